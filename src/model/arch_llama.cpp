// llama: Llama 2 / 3 / 3.1 / 3.2, Mistral, TinyLlama, SmolLM. RoPE on adjacent pairs (the
// converter permuted the q/k rows for it), optional Llama 3.1 frequency factors, tied or
// separate output.
#include "model/arch.h"

namespace tandem::model {

const ArchSpec& arch_llama() {
  static const ArchSpec spec{
      "llama",
      [](const Metadata& m, HParams& hp) {
        read_llama_family(m, hp);
        hp.rope_layout = RopeLayout::Normal;
      },
      declare_llama_family,
  };
  return spec;
}

}  // namespace tandem::model
