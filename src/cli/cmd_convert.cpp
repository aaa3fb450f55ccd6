// Placeholder until the convert command lands (issue 3).
#include "cli/commands.h"
#include "core/error.h"

namespace tandem::cli {

void add_convert(CLI::App& app) {
  auto* cmd = app.add_subcommand("convert", "(not yet available)");
  cmd->allow_extras();
  cmd->callback([] { throw InputError("convert: not yet available"); });
}

}  // namespace tandem::cli
