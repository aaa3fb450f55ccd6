// Weights repacked at load for the 8-bit dot-product kernels: groups of 16 rows interleaved so
// one 512-bit register holds 4 consecutive elements of each of the 16 rows (one int32 lane per
// row). A VNNI dot product (vpdpbusd) against 4 activation bytes broadcast to every lane then
// advances all 16 rows at once, and each weight byte is loaded and unpacked once per tile of
// tokens instead of once per (row, token). Scales sit next to their quants, pre-arranged as
// one vector per block. Same bytes per row as the file's format, read as one sequential stream
// per group.
//
// F16 weights are repacked the same way for a float kernel: element i of the group's 16 rows is
// 16 consecutive f16 values, so one conversion and one broadcast activation advance all 16 rows
// (no horizontal sums, which dominate a row kernel's tiles when k is small).
//
// Layouts, per group of 16 rows (rows past the matrix end are zero; their scales are zero):
//   F16x16, per element (32 bytes): f16 w[16], row r's element in lane r.
//   Q4_0x16, per 32-element block (288 bytes):
//     f16 d[16]; u8 q[4][16][4]: byte i of lane r of vector j holds element 4j+i of row r in its
//     low nibble and element 16+4j+i in its high nibble (exactly Q4_0's qs[4j+i]).
//   Q8_0x16, per 32-element block (544 bytes):
//     f16 d[16]; u8 q[8][16][4]: element 4j+i of row r, stored as w + 128 (unsigned).
//   Q4_Kx16, per 256-element super-block (2304 bytes, as Q4_K's 144 per row):
//     f16 d[16]; f16 dmin[16]; u8 scales[12][16] (byte j of row r's 12-byte 6-bit scale/min
//     packing, unchanged: the kernel decodes 16 rows at once); then for each sub-block s a
//     256-byte Q4_0x16-style nibble block of elements 32s..32s+31.
//   Q6_Kx16, per 256-element super-block (3360 bytes, as Q6_K's 210 per row):
//     f16 d[16]; i8 sc[16][16] (scale of sub-block j, row r); then for each 16-element sub-block
//     j, 192 bytes: u8 lo01[16][4], lo23[16][4], hi[16][4]. With v = the stored 6-bit value
//     (weight + 32) of element 16j + 4s + i of row r: lo01 holds the low 4 bits of steps s = 0
//     (low nibble) and 1 (high nibble), lo23 of steps 2 and 3, hi the top 2 bits of step s at
//     bits 2s..2s+1.
//
// Activations for these kernels carry the sums the unsigned/signed offsets need (F16x16 takes
// the f32 activations as they are: copy_row_f32):
//   Q8_0S per 32 elements: f32 d (the f16 d of ggml's q8_0, widened); i32 sum of qs; i8 qs[32].
//   Q8_K32 per 256: f32 d; i16 sums of each 32 qs, sub-block s at q8_k32_slot(s) (order 0 4 1 5
//     2 6 3 7: one 32-bit load gives the sums of sub-blocks i and i + 4); i8 qs[256] (ggml's
//     q8_K values).
//   Q6_K takes ggml's q8_K itself (BlockQ8_K: its sums of each 16 qs match Q6_K's sub-blocks).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/quant_blocks.h"
#include "kernels/isa.h"
#include "kernels/vec_dot.h"

namespace tandem {

inline constexpr int kPackRows = 16;

struct ActQ8_0S {
  float d;
  int32_t sum;
  int8_t qs[kQK];
};
struct ActQ8_K32 {
  float d;
  int16_t sum32[kQK_K / 32];
  int8_t qs[kQK_K];
};
static_assert(sizeof(ActQ8_0S) == 40 && sizeof(ActQ8_K32) == 276);
constexpr int q8_k32_slot(int s) { return s < 4 ? 2 * s : 2 * (s - 4) + 1; }

// The activation "converter" of the F16x16 kernels: the f32 row as it is.
void copy_row_f32(const float* x, void* dst, int64_t k);

// Bytes of one packed group of 16 rows of k elements.
size_t packed_group_bytes(DType type, int64_t k);
// Packs rows [0, nrows) (nrows <= 16) of a row-major weight matrix (rows src_stride bytes apart)
// into one group at dst (packed_group_bytes(type, k) bytes). Types: F16, Q4_0, Q8_0, Q4_K, Q6_K.
void pack_group(DType type, const void* src, size_t src_stride, int nrows, int64_t k, void* dst);
bool packable(DType type);
// Row `lane` of a packed group as f32 (k values), equal to dequantize_row of the original row.
void dequantize_packed_row(DType type, int64_t k, const void* group, int lane, float* out);

// Activation converters (f32 -> Q8_0S / Q8_K32, values identical to the q8_0 / q8_K ones),
// using the given ISA level's quantizer underneath.
template <Isa I> void quantize_row_q8_0s(const float* x, void* dst, int64_t k);
template <Isa I> void quantize_row_q8_k32(const float* x, void* dst, int64_t k);
template <Isa I> void quantize_row_q8_k(const float* x, void* dst, int64_t k);  // for Q6_K
size_t packed_act_row_bytes(DType weight_type, int64_t k);

// The scalar reference of every packed kernel: for r < nr, t < nt
//   out[t * out_stride + r] = sum_i w_r[i] * act_t[i]
// (F16: summed in element order from zero by fused multiply-adds, which the F16x16 kernels
// match bit for bit)
// with w the first group of rows (groups 16 * w_stride bytes apart, w_stride = group bytes / 16)
// and act_t the converted activations at act + t * act_stride.
void packed_gemm_ref(DType type, int64_t k, const void* w, size_t w_stride, int nr,
                     const void* act, size_t act_stride, int nt, float* out, size_t out_stride);

}  // namespace tandem
