#include "kernels/vec_dot.h"

namespace tandem {
namespace {

VecDotTable build(Isa top) {
  VecDotTable t;
  for (int level = 0; level <= static_cast<int>(top); ++level) {
    const Isa isa = static_cast<Isa>(level);
    register_vec_dot_float(t, isa);
    register_vec_dot_legacy(t, isa);
    register_vec_dot_k(t, isa);
    register_gemm_packed(t, isa);
  }
  return t;
}

}  // namespace

const VecDotTable& vec_dot_table(Isa isa) {
  return isa_table<VecDotTable>(isa, "vec_dot_table", build);
}

}  // namespace tandem
