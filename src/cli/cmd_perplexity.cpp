// Placeholder until the perplexity command lands (issue 3).
#include "cli/commands.h"
#include "core/error.h"

namespace tandem::cli {

void add_perplexity(CLI::App& app) {
  auto* cmd = app.add_subcommand("perplexity", "(not yet available)");
  cmd->allow_extras();
  cmd->callback([] { throw InputError("perplexity: not yet available"); });
}

}  // namespace tandem::cli
