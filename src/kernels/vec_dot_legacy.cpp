#include "kernels/vec_dot.h"

namespace tandem {

// Placeholder until this family's kernels land; registers nothing.
void register_vec_dot_legacy(VecDotTable&, Isa) {}

}  // namespace tandem
