#include "cli/commands.h"
#include "core/error.h"

namespace tandem::cli {

void add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Print a GGUF file's metadata and tensor table");
  static std::string path;
  cmd->add_option("FILE", path, "GGUF file")->required();
  cmd->callback([] { throw_input("{}: inspect is not implemented yet", path); });
}

}  // namespace tandem::cli
