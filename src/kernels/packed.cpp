#include "kernels/packed.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/quant_impl.h"

namespace tandem {
namespace {

constexpr size_t kQ4_0GroupBlock = 2 * kPackRows + kPackRows * kQK / 2;   // 288
constexpr size_t kQ8_0GroupBlock = 2 * kPackRows + kPackRows * kQK;       // 544
constexpr size_t kQ4_KSubBlock = kPackRows * 32 / 2;                      // 256
constexpr size_t kQ4_KHeader = 2 * 2 * kPackRows + 12 * kPackRows;        // 256
constexpr size_t kQ4_KGroupBlock = kQ4_KHeader + 8 * kQ4_KSubBlock;        // 2304
constexpr size_t kQ6_KHeader = 2 * kPackRows + 16 * kPackRows;              // 288
constexpr size_t kQ6_KSubBlock = kPackRows * 16 * 6 / 8;                    // 192
constexpr size_t kQ6_KGroupBlock = kQ6_KHeader + 16 * kQ6_KSubBlock;        // 3360

void put_f16(char* p, int r, f16 v) { std::memcpy(p + 2 * r, &v.bits, 2); }

// Element by element, all rows at once: the writes sequential, the reads 16 sequential streams.
void pack_f16(const void* src, size_t stride, int nrows, int64_t k, char* dst) {
  const char* rows[kPackRows];
  for (int r = 0; r < nrows; ++r) rows[r] = static_cast<const char*>(src) + static_cast<size_t>(r) * stride;
  for (int64_t i = 0; i < k; ++i, dst += 2 * kPackRows)
    for (int r = 0; r < nrows; ++r) std::memcpy(dst + 2 * r, rows[r] + 2 * i, 2);
}

// Calls put(x, r, dst) for block b of every row r < nrows (rows `stride` bytes apart), dst the
// group's block b (group_block bytes each).
template <typename Block, typename Put>
void pack_blocks(const void* src, size_t stride, int nrows, int64_t nb, char* dst, size_t group_block, Put&& put) {
  for (int64_t b = 0; b < nb; ++b, dst += group_block)
    for (int r = 0; r < nrows; ++r)
      put(reinterpret_cast<const Block*>(static_cast<const char*>(src) + static_cast<size_t>(r) * stride)[b], r, dst);
}

void pack_q4_0(const void* src, size_t stride, int nrows, int64_t nb, char* dst) {
  pack_blocks<BlockQ4_0>(src, stride, nrows, nb, dst, kQ4_0GroupBlock, [](const BlockQ4_0& x, int r, char* g) {
    put_f16(g, r, x.d);
    for (int j = 0; j < 4; ++j) std::memcpy(g + 32 + j * 64 + r * 4, x.qs + 4 * j, 4);
  });
}

void pack_q8_0(const void* src, size_t stride, int nrows, int64_t nb, char* dst) {
  pack_blocks<BlockQ8_0>(src, stride, nrows, nb, dst, kQ8_0GroupBlock, [](const BlockQ8_0& x, int r, char* g) {
    put_f16(g, r, x.d);
    for (int j = 0; j < 8; ++j)
      for (int i = 0; i < 4; ++i)
        g[32 + j * 64 + r * 4 + i] = static_cast<char>(static_cast<uint8_t>(x.qs[4 * j + i]) ^ 0x80);
  });
}

// The 256 4-bit values of a Q4_K super-block: 64-element pairs of sub-blocks share qs[32 * pair
// .. + 31], the even sub-block in the low nibbles.
void q4_k_values(const BlockQ4_K& x, uint8_t v[kQK_K]) {
  for (int e = 0; e < kQK_K; ++e) {
    const int pair = e / 64, i = e % 64;
    const uint8_t byte = x.qs[32 * pair + i % 32];
    v[e] = static_cast<uint8_t>(i < 32 ? byte & 0x0f : byte >> 4);
  }
}

void pack_q4_k(const void* src, size_t stride, int nrows, int64_t nb, char* dst) {
  pack_blocks<BlockQ4_K>(src, stride, nrows, nb, dst, kQ4_KGroupBlock, [](const BlockQ4_K& x, int r, char* g) {
    uint8_t v[kQK_K];
    q4_k_values(x, v);
    put_f16(g, r, x.d);
    put_f16(g + 32, r, x.dmin);
    for (int j = 0; j < 12; ++j) g[64 + j * kPackRows + r] = static_cast<char>(x.scales[j]);
    for (int s = 0; s < 8; ++s) {
      char* q = g + kQ4_KHeader + s * kQ4_KSubBlock;
      for (int j = 0; j < 4; ++j)
        for (int i = 0; i < 4; ++i)
          q[j * 64 + r * 4 + i] = static_cast<char>(v[32 * s + 4 * j + i] | (v[32 * s + 16 + 4 * j + i] << 4));
    }
  });
}

// The 256 6-bit values (0..63, the stored value + 32) of a Q6_K super-block, in element order.
void q6_k_values(const BlockQ6_K& x, uint8_t v[kQK_K]) {
  for (int e = 0; e < kQK_K; ++e) {
    const int half = e / 128, quarter = (e % 128) / 32, l = e % 32;
    const uint8_t lo = x.ql[64 * half + l + 32 * (quarter & 1)] >> (4 * (quarter >> 1));
    const uint8_t hi = x.qh[32 * half + l] >> (2 * quarter);
    v[e] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 3) << 4));
  }
}

void pack_q6_k(const void* src, size_t stride, int nrows, int64_t nb, char* dst) {
  pack_blocks<BlockQ6_K>(src, stride, nrows, nb, dst, kQ6_KGroupBlock, [](const BlockQ6_K& x, int r, char* g) {
    uint8_t v[kQK_K];
    q6_k_values(x, v);
    put_f16(g, r, x.d);
    for (int j = 0; j < 16; ++j) {
      g[32 + j * kPackRows + r] = static_cast<char>(x.scales[j]);
      char* q = g + kQ6_KHeader + j * kQ6_KSubBlock + r * 4;
      for (int i = 0; i < 4; ++i) {
        const uint8_t* e = v + 16 * j + i;  // element i of step 0; steps are 4 apart
        q[i] = static_cast<char>((e[0] & 0x0f) | (e[4] << 4));
        q[64 + i] = static_cast<char>((e[8] & 0x0f) | (e[12] << 4));
        q[128 + i] = static_cast<char>((e[0] >> 4) | ((e[4] >> 4) << 2) | ((e[8] >> 4) << 4) | ((e[12] >> 4) << 6));
      }
    }
  });
}

// Element e (0..31) of lane r of a Q4_0x16 / Q8_0x16 block at p, offset removed (q - 8 / w).
int legacy_packed_value(const char* p, bool q4, int lane, int e) {
  if (q4) {
    const auto byte = static_cast<uint8_t>(p[32 + ((e % 16) / 4) * 64 + lane * 4 + e % 4]);
    return (e < 16 ? byte & 0x0f : byte >> 4) - 8;
  }
  return static_cast<int>(static_cast<uint8_t>(p[32 + (e / 4) * 64 + lane * 4 + e % 4])) - 128;
}

// 4-bit value of element e (0..31) of lane r of a Q4_Kx16 sub-block at q.
int q4_k_packed_nibble(const char* q, int lane, int e) {
  const auto byte = static_cast<uint8_t>(q[((e % 16) / 4) * 64 + lane * 4 + e % 4]);
  return e < 16 ? byte & 0x0f : byte >> 4;
}

// Value (0..63) of element e of sub-block j's 16 in lane r of a Q6_Kx16 super-block at p.
int q6_k_packed_value(const char* p, int j, int lane, int e) {
  const char* q = p + kQ6_KHeader + j * kQ6_KSubBlock + lane * 4 + e % 4;
  const int step = e / 4;
  const auto lo = static_cast<uint8_t>(q[step < 2 ? 0 : 64]);
  const auto hi = static_cast<uint8_t>(q[128]);
  return ((step % 2 == 0 ? lo : lo >> 4) & 0x0f) | (((hi >> (2 * step)) & 3) << 4);
}

// Scale and min of sub-block s of lane r of a Q4_Kx16 super-block at p (Q4_K's 6-bit packing).
void q4_k_packed_scale_min(const char* p, int lane, int s, uint8_t& sc, uint8_t& m) {
  uint8_t scales[12];
  for (int j = 0; j < 12; ++j) scales[j] = static_cast<uint8_t>(p[64 + j * kPackRows + lane]);
  k_scale_min(s, scales, sc, m);
}

float f16_at(const char* p, int r) {
  f16 h;
  std::memcpy(&h.bits, p + 2 * r, 2);
  return to_f32(h);
}

}  // namespace

void register_gemm_packed(VecDotTable& t, Isa isa) {
  if (isa == Isa::Avx2) avx2::register_gemm_packed(t);
  if (isa == Isa::Avx512) avx512::register_gemm_packed(t);
}

bool packable(DType type) {
  return type == DType::F16 || type == DType::Q4_0 || type == DType::Q8_0 || type == DType::Q4_K ||
         type == DType::Q6_K;
}

void copy_row_f32(const float* x, void* dst, int64_t k) { std::memcpy(dst, x, static_cast<size_t>(k) * sizeof(float)); }

size_t packed_group_bytes(DType type, int64_t k) {
  switch (type) {
    case DType::F16: return static_cast<size_t>(k) * 2 * kPackRows;
    case DType::Q4_0: return static_cast<size_t>(k / kQK) * kQ4_0GroupBlock;
    case DType::Q8_0: return static_cast<size_t>(k / kQK) * kQ8_0GroupBlock;
    case DType::Q4_K: return static_cast<size_t>(k / kQK_K) * kQ4_KGroupBlock;
    case DType::Q6_K: return static_cast<size_t>(k / kQK_K) * kQ6_KGroupBlock;
    default: throw_input("no packed layout for weight type {}", dtype_name(type));
  }
}

void pack_group(DType type, const void* src, size_t src_stride, int nrows, int64_t k, void* dst) {
  TANDEM_CHECK(nrows >= 1 && nrows <= kPackRows, "pack_group: {} rows", nrows);
  std::memset(dst, 0, packed_group_bytes(type, k));
  char* d = static_cast<char*>(dst);
  switch (type) {
    case DType::F16: pack_f16(src, src_stride, nrows, k, d); break;
    case DType::Q4_0: pack_q4_0(src, src_stride, nrows, k / kQK, d); break;
    case DType::Q8_0: pack_q8_0(src, src_stride, nrows, k / kQK, d); break;
    case DType::Q4_K: pack_q4_k(src, src_stride, nrows, k / kQK_K, d); break;
    case DType::Q6_K: pack_q6_k(src, src_stride, nrows, k / kQK_K, d); break;
    default: throw_input("no packed layout for weight type {}", dtype_name(type));
  }
}

size_t packed_act_row_bytes(DType weight_type, int64_t k) {
  if (weight_type == DType::F16) return static_cast<size_t>(k) * sizeof(float);
  if (weight_type == DType::Q4_K) return static_cast<size_t>(k / kQK_K) * sizeof(ActQ8_K32);
  if (weight_type == DType::Q6_K) return static_cast<size_t>(k / kQK_K) * sizeof(BlockQ8_K);
  return static_cast<size_t>(k / kQK) * sizeof(ActQ8_0S);
}

template <Isa I>
void quantize_row_q8_0s(const float* x, void* dst, int64_t k) {
  static const ActQuantizeFn q8 = vec_dot_table(I).act_quantize[static_cast<size_t>(DType::Q8_0)];
  constexpr int64_t kChunk = 8;  // blocks per call of the underlying quantizer
  BlockQ8_0 tmp[kChunk];
  auto* y = static_cast<ActQ8_0S*>(dst);
  const int64_t nb = k / kQK;
  for (int64_t b0 = 0; b0 < nb; b0 += kChunk) {
    const int64_t n = nb - b0 < kChunk ? nb - b0 : kChunk;
    q8(x + b0 * kQK, tmp, n * kQK);
    for (int64_t i = 0; i < n; ++i) {
      ActQ8_0S& o = y[b0 + i];
      o.d = to_f32(tmp[i].d);
      int32_t s = 0;
      for (int j = 0; j < kQK; ++j) s += tmp[i].qs[j];
      o.sum = s;
      std::memcpy(o.qs, tmp[i].qs, kQK);
    }
  }
}

template <Isa I>
void quantize_row_q8_k32(const float* x, void* dst, int64_t k) {
  static const ActQuantizeFn q8 = vec_dot_table(I).act_quantize[static_cast<size_t>(DType::Q8_K)];
  BlockQ8_K tmp;
  auto* y = static_cast<ActQ8_K32*>(dst);
  for (int64_t b = 0; b < k / kQK_K; ++b) {
    q8(x + b * kQK_K, &tmp, kQK_K);
    y[b].d = tmp.d;
    for (int s = 0; s < 8; ++s)
      y[b].sum32[q8_k32_slot(s)] = static_cast<int16_t>(tmp.bsums[2 * s] + tmp.bsums[2 * s + 1]);
    std::memcpy(y[b].qs, tmp.qs, kQK_K);
  }
}

template <Isa I>
void quantize_row_q8_k(const float* x, void* dst, int64_t k) {
  static const ActQuantizeFn q8 = vec_dot_table(I).act_quantize[static_cast<size_t>(DType::Q8_K)];
  q8(x, dst, k);
}

template void quantize_row_q8_0s<Isa::Scalar>(const float*, void*, int64_t);
template void quantize_row_q8_0s<Isa::Avx2>(const float*, void*, int64_t);
template void quantize_row_q8_0s<Isa::Avx512>(const float*, void*, int64_t);
template void quantize_row_q8_k32<Isa::Scalar>(const float*, void*, int64_t);
template void quantize_row_q8_k32<Isa::Avx2>(const float*, void*, int64_t);
template void quantize_row_q8_k32<Isa::Avx512>(const float*, void*, int64_t);
template void quantize_row_q8_k<Isa::Scalar>(const float*, void*, int64_t);
template void quantize_row_q8_k<Isa::Avx2>(const float*, void*, int64_t);
template void quantize_row_q8_k<Isa::Avx512>(const float*, void*, int64_t);

void packed_gemm_ref(DType type, int64_t k, const void* w, size_t w_stride, int nr,
                     const void* act, size_t act_stride, int nt, float* out, size_t out_stride) {
  const size_t gbytes = packed_group_bytes(type, k);
  TANDEM_CHECK(gbytes == kPackRows * w_stride, "packed_gemm_ref: w_stride {} for group of {} bytes",
               w_stride, gbytes);
  for (int t = 0; t < nt; ++t) {
    const char* a = static_cast<const char*>(act) + static_cast<size_t>(t) * act_stride;
    for (int r = 0; r < nr; ++r) {
      const char* g = static_cast<const char*>(w) + static_cast<size_t>(r / kPackRows) * gbytes;
      const int lane = r % kPackRows;
      float acc = 0.0f;
      if (type == DType::F16) {
        const auto* x = reinterpret_cast<const float*>(a);
        for (int64_t i = 0; i < k; ++i) acc = std::fma(f16_at(g + i * 2 * kPackRows, lane), x[i], acc);
      } else if (type == DType::Q4_0 || type == DType::Q8_0) {
        const bool q4 = type == DType::Q4_0;
        const size_t blk = q4 ? kQ4_0GroupBlock : kQ8_0GroupBlock;
        for (int64_t b = 0; b < k / kQK; ++b) {
          const char* p = g + static_cast<size_t>(b) * blk;
          const auto& ab = reinterpret_cast<const ActQ8_0S*>(a)[b];
          int32_t s = 0;
          for (int e = 0; e < kQK; ++e) s += legacy_packed_value(p, q4, lane, e) * ab.qs[e];
          acc += static_cast<float>(s) * (f16_at(p, lane) * ab.d);
        }
      } else if (type == DType::Q4_K) {
        for (int64_t b = 0; b < k / kQK_K; ++b) {
          const char* p = g + static_cast<size_t>(b) * kQ4_KGroupBlock;
          const auto& ab = reinterpret_cast<const ActQ8_K32*>(a)[b];
          int32_t isum = 0, msum = 0;
          for (int s = 0; s < 8; ++s) {
            const char* q = p + kQ4_KHeader + s * kQ4_KSubBlock;
            int32_t ip = 0;
            for (int e = 0; e < 32; ++e) ip += q4_k_packed_nibble(q, lane, e) * ab.qs[32 * s + e];
            uint8_t sc = 0, m = 0;
            q4_k_packed_scale_min(p, lane, s, sc, m);
            isum += ip * sc;
            msum += m * ab.sum32[q8_k32_slot(s)];
          }
          acc += static_cast<float>(isum) * (f16_at(p, lane) * ab.d);
          acc -= static_cast<float>(msum) * (f16_at(p + 32, lane) * ab.d);
        }
      } else if (type == DType::Q6_K) {
        for (int64_t b = 0; b < k / kQK_K; ++b) {
          const char* p = g + static_cast<size_t>(b) * kQ6_KGroupBlock;
          const auto& ab = reinterpret_cast<const BlockQ8_K*>(a)[b];
          int32_t isum = 0;
          for (int j = 0; j < 16; ++j) {
            int32_t ip = 0;
            for (int e = 0; e < 16; ++e) ip += (q6_k_packed_value(p, j, lane, e) - 32) * ab.qs[16 * j + e];
            isum += ip * static_cast<int8_t>(p[32 + j * kPackRows + lane]);
          }
          acc += static_cast<float>(isum) * (f16_at(p, lane) * ab.d);
        }
      } else {
        throw_input("no packed layout for weight type {}", dtype_name(type));
      }
      out[static_cast<size_t>(t) * out_stride + r] = acc;
    }
  }
}

void dequantize_packed_row(DType type, int64_t k, const void* group, int lane, float* out) {
  TANDEM_CHECK(lane >= 0 && lane < kPackRows, "dequantize_packed_row: lane {}", lane);
  const char* g = static_cast<const char*>(group);
  switch (type) {
    case DType::F16:
      for (int64_t i = 0; i < k; ++i) out[i] = f16_at(g + i * 2 * kPackRows, lane);
      return;
    case DType::Q4_0:
    case DType::Q8_0: {
      const bool q4 = type == DType::Q4_0;
      const size_t blk = q4 ? kQ4_0GroupBlock : kQ8_0GroupBlock;
      for (int64_t b = 0; b < k / kQK; ++b) {
        const char* p = g + static_cast<size_t>(b) * blk;
        const float d = f16_at(p, lane);
        for (int e = 0; e < kQK; ++e) out[b * kQK + e] = d * static_cast<float>(legacy_packed_value(p, q4, lane, e));
      }
      return;
    }
    case DType::Q4_K:
      for (int64_t b = 0; b < k / kQK_K; ++b) {
        const char* p = g + static_cast<size_t>(b) * kQ4_KGroupBlock;
        const float d = f16_at(p, lane), dmin = f16_at(p + 32, lane);
        for (int s = 0; s < 8; ++s) {
          const char* q = p + kQ4_KHeader + s * kQ4_KSubBlock;
          uint8_t sc6 = 0, m6 = 0;
          q4_k_packed_scale_min(p, lane, s, sc6, m6);
          const float sc = d * sc6, m = dmin * m6;
          for (int e = 0; e < 32; ++e) out[b * kQK_K + 32 * s + e] = sc * static_cast<float>(q4_k_packed_nibble(q, lane, e)) - m;
        }
      }
      return;
    case DType::Q6_K:
      for (int64_t b = 0; b < k / kQK_K; ++b) {
        const char* p = g + static_cast<size_t>(b) * kQ6_KGroupBlock;
        const float d = f16_at(p, lane);
        for (int j = 0; j < 16; ++j) {
          const float sc = d * static_cast<float>(static_cast<int8_t>(p[32 + j * kPackRows + lane]));
          for (int e = 0; e < 16; ++e)
            out[b * kQK_K + 16 * j + e] = sc * static_cast<float>(q6_k_packed_value(p, j, lane, e) - 32);
        }
      }
      return;
    default: throw_input("no packed layout for weight type {}", dtype_name(type));
  }
}

}  // namespace tandem
