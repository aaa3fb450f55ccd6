// qwen3: Qwen3 dense models. Per-head RMSNorm of q and k (before RoPE), no biases, RoPE on split
// halves (NeoX); the head width (key_length) need not be n_embd / n_head.
#include "model/arch.h"

namespace tandem::model {

const ArchSpec& arch_qwen3() {
  static const ArchSpec spec{
      "qwen3",
      [](const Metadata& m, HParams& hp) {
        read_llama_family(m, hp);
        hp.rope_layout = RopeLayout::NeoX;
        hp.qk_norm = true;
      },
      declare_llama_family,
  };
  return spec;
}

}  // namespace tandem::model
