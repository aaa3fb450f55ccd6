#include "kernels/quant_impl.h"

namespace tandem::avx2 {

void register_quant(QuantOps& ops) {}

}  // namespace tandem::avx2
