#include "core/dtype.h"

#include <cctype>

namespace tandem {

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.block_size == 0 || info.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(name[i])) ==
             std::tolower(static_cast<unsigned char>(info.name[i]));
    if (same) return info.type;
  }
  return std::nullopt;
}

}  // namespace tandem
