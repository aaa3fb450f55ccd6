// Subcommand registry. Each cmd_*.cpp adds its subcommand and the callback that runs it.
// Callbacks throw InputError for bad input (exit 2) and other errors for failures (exit 1).
#pragma once

#include <CLI/CLI.hpp>

namespace tandem::cli {

void register_commands(CLI::App& app);
// Exit code set by the subcommand that ran (0 unless it chose otherwise).
int exit_code();
void set_exit_code(int code);

void add_inspect(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_run(CLI::App& app);
void add_chat(CLI::App& app);
void add_perplexity(CLI::App& app);
void add_convert(CLI::App& app);
void add_quantize(CLI::App& app);
void add_bench(CLI::App& app);
void add_serve(CLI::App& app);
void add_plan(CLI::App& app);

}  // namespace tandem::cli
