// tandem quantize IN.gguf OUT.gguf TYPE: requantize the weights, choosing per-tensor types as
// llama.cpp's quantizer does for the same target (q4_k_m mixes q4_K and q6_K).
#include <fmt/format.h>

#include "cli/commands.h"
#include "core/thread_pool.h"
#include "model/quantize.h"

namespace tandem::cli {

void add_quantize(CLI::App& app) {
  struct Options {
    std::string in, out, type;
    int threads = 0;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("quantize", "requantize a GGUF file (q8_0, q4_0, q4_k, q4_k_m, q6_k, f16, bf16, f32)");
  cmd->add_option("IN", o->in, "source GGUF file")->required();
  cmd->add_option("OUT", o->out, "GGUF file to write")->required();
  cmd->add_option("TYPE", o->type, "target: q8_0, q4_0, q4_k (= q4_k_s), q4_k_m, q6_k, f16, bf16, f32")->required();
  cmd->add_option("-t,--threads", o->threads, "threads (0 = all cores)");
  cmd->callback([o] {
    if (o->threads > 0) ThreadPool::set_default_threads(o->threads);
    model::quantize_model(o->in, o->out, o->type);
    fmt::print(stderr, "tandem: wrote {}\n", o->out);
  });
}

}  // namespace tandem::cli
