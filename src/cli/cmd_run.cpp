// Placeholder until the run command lands (issue 3).
#include "cli/commands.h"
#include "core/error.h"

namespace tandem::cli {

void add_run(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "(not yet available)");
  cmd->allow_extras();
  cmd->callback([] { throw InputError("run: not yet available"); });
}

}  // namespace tandem::cli
