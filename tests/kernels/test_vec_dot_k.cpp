// K-quant vec-dot kernels (Q4_K, Q5_K, Q6_K weights x Q8_K activations):
//   - the scalar reference against a double-precision dot of the same blocks, decoded here from
//     the format spec by byte offset (independent of the kernels and of quant_blocks.h);
//   - every ISA level against the scalar reference;
// on random valid blocks (random f16 scales, random packed scale bytes, random quants) for
// k = 1..16 super-blocks and nr = 1..max_rows + 2, with rows further apart than their bytes.
//
// Tolerances: the integer sums are exact in every kernel; what differs is float rounding of a
// handful of operations per super-block plus the accumulation over nb super-blocks. Each is
// bounded by 2^-24 of `mag`, the sum of the magnitudes of every product the kernel adds
// (|d*sc*q*a| + |dmin*m*a| for Q4_K/Q5_K, |d*sc*q*a| + |d*sc*32*a| for Q6_K), so we allow
//   |got - want| <= (nb + 8) * 2^-22 * mag      (about 4 ulp of mag per step).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"
#include "core/quant_blocks.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/vec_dot.h"

namespace tandem {
namespace {

const DType kTypes[] = {DType::Q4_K, DType::Q5_K, DType::Q6_K};
constexpr size_t kQ8KBytes = 4 + 256 + 32;  // f32 d, 256 x i8 qs, 16 x i16 bsums

size_t idx(DType t) { return static_cast<size_t>(t); }

double tolerance(int64_t nb, double mag) { return double(nb + 8) * 0x1p-22 * mag + 1e-30; }

// ---- random valid blocks -------------------------------------------------------------------

// A finite half: random sign and mantissa, exponent 2^-12..2^3, sometimes zero or subnormal.
uint16_t random_half(std::mt19937& rng) {
  const uint32_t r = rng();
  const uint16_t sign = static_cast<uint16_t>((r & 1u) << 15);
  const uint16_t mant = static_cast<uint16_t>((r >> 1) & 0x3ffu);
  switch ((r >> 11) % 16) {
    case 0: return sign;         // +-0
    case 1: return sign | mant;  // subnormal
    default: return static_cast<uint16_t>(sign | ((3 + (r >> 16) % 16) << 10) | mant);
  }
}

void put_u16(std::byte* p, uint16_t v) { std::memcpy(p, &v, 2); }

// nr rows of k weights, `stride` bytes apart (>= the row's bytes; the gap is filled too).
// Every byte is random (all quants and all packed scale bits are valid) except the f16 scales.
std::vector<std::byte> random_rows(DType type, int64_t k, int nr, size_t stride, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> w(stride * static_cast<size_t>(nr));
  for (auto& b : w) b = static_cast<std::byte>(rng());
  const size_t bb = block_bytes(type);
  for (int r = 0; r < nr; ++r) {
    for (int64_t b = 0; b < k / kQK_K; ++b) {
      std::byte* blk = w.data() + static_cast<size_t>(r) * stride + static_cast<size_t>(b) * bb;
      if (type == DType::Q6_K) {
        put_u16(blk + 208, random_half(rng));  // d after ql[128], qh[64], scales[16]
      } else {
        put_u16(blk + 0, random_half(rng));  // d
        put_u16(blk + 2, random_half(rng));  // dmin
      }
    }
  }
  return w;
}

// nb Q8_K blocks with random qs in [-127, 127], a random f32 d and matching bsums.
std::vector<std::byte> random_q8_K(int64_t nb, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> q(-127, 127);
  std::uniform_real_distribution<float> d(-0.05f, 0.05f);
  std::vector<std::byte> a(kQ8KBytes * static_cast<size_t>(nb));
  for (int64_t b = 0; b < nb; ++b) {
    std::byte* blk = a.data() + kQ8KBytes * static_cast<size_t>(b);
    const float db = d(rng);
    std::memcpy(blk, &db, 4);
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) {
        const int8_t v = static_cast<int8_t>(q(rng));
        sum += v;
        std::memcpy(blk + 4 + 16 * g + i, &v, 1);
      }
      const int16_t s = static_cast<int16_t>(sum);
      std::memcpy(blk + 260 + 2 * g, &s, 2);
    }
  }
  return a;
}

std::vector<float> random_floats(size_t n, uint32_t seed, float sigma) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// ---- decoding from the spec ------------------------------------------------------------------

uint16_t get_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// One row decoded: w[i] = the weight; bound[i] = sum of |pieces| the kernel multiplies by a[i].
struct Decoded {
  std::vector<double> w, bound;
};

// Scale and min j (0..7) from the 12 packed bytes: j < 4 in the low 6 bits of bytes j and
// j + 4; otherwise the low / high nibble of byte j + 4 with the top two bits of bytes j - 4 / j.
void scale_min(const uint8_t* q, int j, int& sc, int& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Q4_K block (144 bytes): d, dmin, scales[12], qs[128]. Q5_K (176): d, dmin, scales[12],
// qh[32], qs[128]. Chunk c of 64 elements: qs[32c + l] low nibble -> element 64c + l (group
// 2c), high nibble -> 64c + 32 + l (group 2c + 1); Q5_K adds 16 when bit 2c (resp. 2c + 1) of
// qh[l] is set. w = d * sc * q - dmin * m.
Decoded decode_q45_K(const std::byte* row, int64_t nb, bool five) {
  Decoded out;
  const size_t bb = five ? 176 : 144;
  for (int64_t b = 0; b < nb; ++b) {
    const auto* x = reinterpret_cast<const uint8_t*>(row) + bb * static_cast<size_t>(b);
    const double d = fp16_to_fp32(get_u16(x)), dmin = fp16_to_fp32(get_u16(x + 2));
    const uint8_t* scales = x + 4;
    const uint8_t* qh = x + 16;
    const uint8_t* qs = x + (five ? 48 : 16);
    double w[256], bound[256];
    for (int c = 0; c < 4; ++c) {
      int sc0, m0, sc1, m1;
      scale_min(scales, 2 * c, sc0, m0);
      scale_min(scales, 2 * c + 1, sc1, m1);
      for (int l = 0; l < 32; ++l) {
        int lo = qs[32 * c + l] & 0x0f, hi = qs[32 * c + l] >> 4;
        if (five) {
          if (qh[l] & (1 << (2 * c))) lo += 16;
          if (qh[l] & (2 << (2 * c))) hi += 16;
        }
        w[64 * c + l] = d * sc0 * lo - dmin * m0;
        w[64 * c + 32 + l] = d * sc1 * hi - dmin * m1;
        bound[64 * c + l] = std::fabs(d * sc0 * lo) + std::fabs(dmin * m0);
        bound[64 * c + 32 + l] = std::fabs(d * sc1 * hi) + std::fabs(dmin * m1);
      }
    }
    out.w.insert(out.w.end(), w, w + 256);
    out.bound.insert(out.bound.end(), bound, bound + 256);
  }
  return out;
}

// Q6_K block (210 bytes): ql[128], qh[64], scales[16] (i8), d. Half n (128 elements) uses
// ql[64n..], qh[32n..], scales[8n..]; for l < 32 (is = l / 16):
//   element l      : ql[l] low nibble,      qh[l] bits 0-1, scale is
//   element l + 32 : ql[l + 32] low nibble, qh[l] bits 2-3, scale is + 2
//   element l + 64 : ql[l] high nibble,     qh[l] bits 4-5, scale is + 4
//   element l + 96 : ql[l + 32] high nibble, qh[l] bits 6-7, scale is + 6
// w = d * sc * (q - 32).
Decoded decode_q6_K(const std::byte* row, int64_t nb) {
  Decoded out;
  for (int64_t b = 0; b < nb; ++b) {
    const auto* x = reinterpret_cast<const uint8_t*>(row) + 210 * static_cast<size_t>(b);
    const double d = fp16_to_fp32(get_u16(x + 208));
    double w[256], bound[256];
    for (int n = 0; n < 2; ++n) {
      const uint8_t* ql = x + 64 * n;
      const uint8_t* qh = x + 128 + 32 * n;
      const auto* sc = reinterpret_cast<const int8_t*>(x + 192 + 8 * n);
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q[4] = {(ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4),
                          (ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4),
                          (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
                          (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)};
        for (int s = 0; s < 4; ++s) {
          const double ds = d * sc[is + 2 * s];
          w[128 * n + 32 * s + l] = ds * (q[s] - 32);
          bound[128 * n + 32 * s + l] = std::fabs(ds) * (q[s] + 32);
        }
      }
    }
    out.w.insert(out.w.end(), w, w + 256);
    out.bound.insert(out.bound.end(), bound, bound + 256);
  }
  return out;
}

Decoded decode(DType type, const std::byte* row, int64_t nb) {
  return type == DType::Q6_K ? decode_q6_K(row, nb) : decode_q45_K(row, nb, type == DType::Q5_K);
}

// Q8_K block: f32 d at 0, qs[256] at 4; a = d * q.
std::vector<double> decode_q8_K(const std::byte* a, int64_t nb) {
  std::vector<double> v;
  for (int64_t b = 0; b < nb; ++b) {
    const std::byte* blk = a + kQ8KBytes * static_cast<size_t>(b);
    float d;
    std::memcpy(&d, blk, 4);
    for (int i = 0; i < 256; ++i) v.push_back(double(d) * static_cast<int8_t>(blk[4 + i]));
  }
  return v;
}

// Activations for a case: quantized from random floats by `quantize`, or random Q8_K blocks.
std::vector<std::byte> make_act(const VecDotTable& t, int64_t k, bool raw, uint32_t seed) {
  if (raw) return random_q8_K(k / kQK_K, seed);
  const auto x = random_floats(static_cast<size_t>(k), seed, 2.0f);
  std::vector<std::byte> a(kQ8KBytes * static_cast<size_t>(k / kQK_K));
  t.act_quantize[idx(DType::Q8_K)](x.data(), a.data(), k);
  return a;
}

static_assert(sizeof(BlockQ8_K) == kQ8KBytes);

// ---- tests -------------------------------------------------------------------------------------

TEST(VecDotK, ScalarMatchesDoubleDotOfSpecDecodedBlocks) {
  const VecDotTable& t = vec_dot_table(Isa::Scalar);
  for (DType type : kTypes) {
    const VecDotKernel& kern = t.by_weight[idx(type)];
    ASSERT_NE(kern.dot, nullptr) << dtype_name(type);
    ASSERT_EQ(kern.act_type, DType::Q8_K);
    for (int64_t nb = 1; nb <= 16; ++nb) {
      for (bool raw : {false, true}) {
        const int64_t k = nb * kQK_K;
        const int nr = 3;
        const size_t stride = row_bytes(type, k) + 64;
        const auto w = random_rows(type, k, nr, stride, uint32_t(1000 * nb + raw));
        const auto act = make_act(t, k, raw, uint32_t(2000 * nb + raw));
        const auto a = decode_q8_K(act.data(), nb);
        float out[nr + 1] = {0, 0, 0, -7.0f};
        kern.dot(k, w.data(), stride, nr, act.data(), out);
        EXPECT_EQ(out[nr], -7.0f) << "wrote past out[nr - 1]";
        for (int r = 0; r < nr; ++r) {
          const Decoded dw = decode(type, w.data() + r * stride, nb);
          double want = 0, mag = 0;
          for (int64_t i = 0; i < k; ++i) {
            want += dw.w[i] * a[i];
            mag += dw.bound[i] * std::fabs(a[i]);
          }
          EXPECT_NEAR(out[r], want, tolerance(nb, mag))
              << dtype_name(type) << " nb " << nb << " raw " << raw << " row " << r;
        }
      }
    }
  }
}

TEST(VecDotK, EveryIsaMatchesScalar) {
  const VecDotTable& ref = vec_dot_table(Isa::Scalar);
  for (Isa isa : available_isas()) {
    const VecDotTable& t = vec_dot_table(isa);
    for (DType type : kTypes) {
      const VecDotKernel& kern = t.by_weight[idx(type)];
      ASSERT_NE(kern.dot, nullptr) << dtype_name(type) << " at " << isa_name(isa);
      ASSERT_EQ(kern.act_type, DType::Q8_K);
      ASSERT_GE(kern.max_rows, 1);
      for (int64_t nb = 1; nb <= 16; ++nb) {
        const int64_t k = nb * kQK_K;
        for (int nr = 1; nr <= kern.max_rows + 2; ++nr) {
          for (bool raw : {false, true}) {
            const uint32_t seed = uint32_t(nb * 131 + nr * 7 + raw);
            const size_t stride = row_bytes(type, k) + 32 * (nr % 3);
            const auto w = random_rows(type, k, nr, stride, seed);
            const auto act = make_act(t, k, raw, seed + 1);
            const auto a = decode_q8_K(act.data(), nb);
            std::vector<float> got(static_cast<size_t>(nr) + 1, -7.0f), want(static_cast<size_t>(nr));
            kern.dot(k, w.data(), stride, nr, act.data(), got.data());
            ref.by_weight[idx(type)].dot(k, w.data(), stride, nr, act.data(), want.data());
            ASSERT_EQ(got[nr], -7.0f) << "wrote past out[nr - 1]";
            for (int r = 0; r < nr; ++r) {
              const Decoded dw = decode(type, w.data() + r * stride, nb);
              double mag = 0;
              for (int64_t i = 0; i < k; ++i) mag += dw.bound[i] * std::fabs(a[i]);
              ASSERT_NEAR(got[r], want[r], 2 * tolerance(nb, mag))
                  << dtype_name(type) << " " << isa_name(isa) << " nb " << nb << " nr " << nr
                  << " raw " << raw << " row " << r;
            }
          }
        }
      }
    }
  }
}

// Zero scales or zero activations give exactly zero at every level.
TEST(VecDotK, ZeroBlocksGiveZero) {
  for (Isa isa : available_isas()) {
    const VecDotTable& t = vec_dot_table(isa);
    for (DType type : kTypes) {
      const int64_t k = 3 * kQK_K;
      const auto w = random_rows(type, k, 2, row_bytes(type, k), 5);
      const std::vector<float> zeros(static_cast<size_t>(k), 0.0f);
      std::vector<std::byte> act(kQ8KBytes * 3);
      t.act_quantize[idx(DType::Q8_K)](zeros.data(), act.data(), k);
      float out[2] = {1, 1};
      t.by_weight[idx(type)].dot(k, w.data(), row_bytes(type, k), 2, act.data(), out);
      EXPECT_EQ(out[0], 0.0f) << dtype_name(type) << " " << isa_name(isa);
      EXPECT_EQ(out[1], 0.0f) << dtype_name(type) << " " << isa_name(isa);
    }
  }
}

TEST(VecDotK, MatmulRunsKTypes) {
  for (DType type : kTypes) {
    const int64_t k = 2 * kQK_K, n_out = 37;
    const auto w = random_rows(type, k, static_cast<int>(n_out), row_bytes(type, k), 3);
    const auto x = random_floats(static_cast<size_t>(3 * k), 4, 1.0f);
    ThreadPool pool(2);
    std::vector<float> y(static_cast<size_t>(3 * n_out));
    const auto tv = TensorView::contiguous(type, {k, n_out}, const_cast<std::byte*>(w.data()));
    matmul(tv, x.data(), 3, y.data(), pool);
    // Against the scalar kernel row by row.
    const VecDotTable& ref = vec_dot_table(Isa::Scalar);
    std::vector<std::byte> act(kQ8KBytes * static_cast<size_t>(k / kQK_K));
    for (int tok = 0; tok < 3; ++tok) {
      ref.act_quantize[idx(DType::Q8_K)](x.data() + tok * k, act.data(), k);
      const auto a = decode_q8_K(act.data(), k / kQK_K);
      for (int64_t o = 0; o < n_out; ++o) {
        const std::byte* row = w.data() + o * row_bytes(type, k);
        float want;
        ref.by_weight[idx(type)].dot(k, row, 0, 1, act.data(), &want);
        const Decoded dw = decode(type, row, k / kQK_K);
        double mag = 0;
        for (int64_t i = 0; i < k; ++i) mag += dw.bound[i] * std::fabs(a[i]);
        ASSERT_NEAR(y[tok * n_out + o], want, 2 * tolerance(k / kQK_K, mag)) << dtype_name(type);
      }
    }
  }
}

}  // namespace
}  // namespace tandem
