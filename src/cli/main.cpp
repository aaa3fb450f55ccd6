// tandem: one executable, one subcommand per file (cli/cmd_*.cpp), registered in commands.h.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"
#include "kernels/isa.h"

int main(int argc, char** argv) {
  CLI::App app{"tandem: run large language models across the hardware you have"};
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 success, 2 bad usage or bad input (one line on stderr), 1 runtime failure.\n"
      "Environment: TANDEM_ISA=scalar|avx2|avx512 caps the kernel instruction set;\n"
      "             TANDEM_LOG=error|warn|info|debug sets the log level (default warn).");
  app.set_version_flag("--version", [] {
    return fmt::format("tandem {} (kernels: {})", TANDEM_VERSION, tandem::isa_summary());
  });
  tandem::cli::register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0 in CLI11; real usage errors get one
    // line, like every other bad input.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "tandem: %s (see --help)\n", e.what());
    return 2;
  } catch (const tandem::InputError& e) {
    std::fprintf(stderr, "tandem: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tandem: error: %s\n", e.what());
    return 1;
  }
  return tandem::cli::exit_code();
}
