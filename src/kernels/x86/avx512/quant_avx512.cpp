#include "kernels/quant_impl.h"

namespace tandem::avx512 {

void register_quant(QuantOps& ops) {}

}  // namespace tandem::avx512
