// Placeholder until the tokenize command lands (issue 3).
#include "cli/commands.h"
#include "core/error.h"

namespace tandem::cli {

void add_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "(not yet available)");
  cmd->allow_extras();
  cmd->callback([] { throw InputError("tokenize: not yet available"); });
}

}  // namespace tandem::cli
