// Placeholder until the chat command lands (issue 3).
#include "cli/commands.h"
#include "core/error.h"

namespace tandem::cli {

void add_chat(CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "(not yet available)");
  cmd->allow_extras();
  cmd->callback([] { throw InputError("chat: not yet available"); });
}

}  // namespace tandem::cli
