// Placeholder until the quantize command lands (issue 3).
#include "cli/commands.h"
#include "core/error.h"

namespace tandem::cli {

void add_quantize(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize", "(not yet available)");
  cmd->allow_extras();
  cmd->callback([] { throw InputError("quantize: not yet available"); });
}

}  // namespace tandem::cli
