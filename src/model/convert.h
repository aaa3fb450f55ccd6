// tandem convert: a Hugging Face checkpoint directory (config.json, tokenizer.json,
// tokenizer_config.json, one or many *.safetensors) -> one GGUF file that tandem and llama.cpp
// load. Architectures: LlamaForCausalLM / MistralForCausalLM ("llama", q/k rows permuted as
// llama.cpp does), Qwen2ForCausalLM ("qwen2"), Qwen3ForCausalLM ("qwen3").
#pragma once

#include <filesystem>

#include "core/dtype.h"

namespace tandem::model {

struct ConvertOptions {
  DType type = DType::F16;  // F32, F16, BF16 or Q8_0 for 2-D weights; norms and biases stay F32
};

void convert_hf(const std::filesystem::path& hf_dir, const std::filesystem::path& out,
                const ConvertOptions& options);

}  // namespace tandem::model
