// Runs the real tandem binary and captures its exit code, stdout and stderr.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace tandem::test {

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a shell command line, capturing stdout and stderr.
inline RunResult run_command(const std::string& cmd) {
  static int counter = 0;
  const std::string base = "/tmp/tandem-cli-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const int status = std::system((cmd + " >" + base + ".out 2>" + base + ".err").c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(base + ".out");
  r.err = slurp(base + ".err");
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return r;
}

// `args` is appended to the binary's path as a shell command line (quote as needed).
inline RunResult run_tandem(const std::string& args) { return run_command(std::string(TANDEM_BINARY) + " " + args); }

}  // namespace tandem::test
