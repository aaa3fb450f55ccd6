// qwen2: Qwen2 / Qwen2.5. Biases on the q, k and v projections; RoPE on split halves (NeoX).
#include "model/arch.h"

namespace tandem::model {

const ArchSpec& arch_qwen2() {
  static const ArchSpec spec{
      "qwen2",
      [](const Metadata& m, HParams& hp) {
        read_llama_family(m, hp);
        hp.rope_layout = RopeLayout::NeoX;
        hp.qkv_bias = true;
      },
      declare_llama_family,
  };
  return spec;
}

}  // namespace tandem::model
