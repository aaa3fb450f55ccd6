// tandem convert HF_DIR -o OUT.gguf [--type f16|bf16|f32|q8_0]: a Hugging Face checkpoint
// (config.json, tokenizer.json, *.safetensors) to a GGUF file that tandem and llama.cpp load.
#include <fmt/format.h>

#include "cli/commands.h"
#include "core/error.h"
#include "model/convert.h"

namespace tandem::cli {

void add_convert(CLI::App& app) {
  struct Options {
    std::string dir, out, type = "f16";
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("convert", "convert a Hugging Face checkpoint (Llama, Mistral, Qwen2, Qwen3) to GGUF");
  cmd->add_option("HF_DIR", o->dir, "checkpoint directory")->required();
  cmd->add_option("-o,--output", o->out, "GGUF file to write")->required();
  cmd->add_option("--type", o->type, "type of the weight matrices")->capture_default_str()
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0"}));
  cmd->callback([o] {
    model::ConvertOptions opt;
    opt.type = *dtype_from_name(o->type);
    model::convert_hf(o->dir, o->out, opt);
    fmt::print(stderr, "tandem: wrote {}\n", o->out);
  });
}

}  // namespace tandem::cli
