#include "cli/commands.h"

namespace tandem::cli {
namespace {
int g_exit_code = 0;
}

void register_commands(CLI::App& app) {
  add_run(app);
  add_chat(app);
  add_tokenize(app);
  add_perplexity(app);
  add_bench(app);
  add_serve(app);
  add_inspect(app);
  add_convert(app);
  add_quantize(app);
  add_plan(app);
}

int exit_code() { return g_exit_code; }
void set_exit_code(int code) { g_exit_code = code; }

}  // namespace tandem::cli
