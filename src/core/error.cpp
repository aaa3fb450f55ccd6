#include "core/error.h"

namespace tandem {

void check_failed(const char* file, int line, const char* cond, const std::string& msg) {
  throw RuntimeError(fmt::format("{}:{}: check failed: {}{}{}", file, line, cond,
                                 msg.empty() ? "" : ": ", msg));
}

}  // namespace tandem
