// Weights repacked in 16-row groups (kernels/packed.h): the scalar reference over the packed
// layout against the scalar row kernel on the original layout, and every ISA's packed kernel
// (through matmul) against that reference; row counts that are not a multiple of 16, 1..many
// tokens, 1 and 2 threads; rows read back from the packed layout (get_rows of a tied embedding).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/buffer.h"
#include "core/error.h"
#include "kernels/get_rows.h"
#include "kernels/matmul.h"
#include "kernels/packed.h"
#include "kernels/quant.h"
#include "random_weights.h"

namespace tandem {
namespace {

constexpr DType kPackTypes[] = {DType::F16, DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K};

struct Case {
  DType type;
  int64_t k, n_out;
  std::vector<uint8_t> wbytes;
  WeightMatrix w;
  AlignedBuffer packed_buf;
  WeightMatrix packed;
};

Case make_case(DType t, int64_t k, int64_t n_out, std::mt19937& rng, ThreadPool& pool) {
  Case c{t, k, n_out, {}, {}, {}, {}};
  const size_t stride = row_bytes(t, k) + block_bytes(t);  // strided rows
  c.wbytes = random_matrix(t, k, n_out, stride, rng);
  c.w = WeightMatrix{t, c.wbytes.data(), k, n_out, stride};
  c.packed_buf = AlignedBuffer(packed_matrix_bytes(c.w));
  c.packed = pack_matrix(c.w, c.packed_buf.data(), pool);
  return c;
}

std::vector<float> random_x(int64_t n, std::mt19937& rng) {
  std::vector<float> x(static_cast<size_t>(n));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (auto& v : x) v = dist(rng);
  return x;
}

// Reference: the scalar packed kernel on activations from the scalar converter.
std::vector<float> reference(const Case& c, const std::vector<float>& x, int64_t n_tok) {
  const size_t as = packed_act_row_bytes(c.type, c.k);
  std::vector<uint8_t> act(as * static_cast<size_t>(n_tok));
  for (int64_t t = 0; t < n_tok; ++t) {
    if (c.type == DType::F16)
      copy_row_f32(x.data() + t * c.k, act.data() + t * as, c.k);
    else if (c.type == DType::Q4_K)
      quantize_row_q8_k32<Isa::Scalar>(x.data() + t * c.k, act.data() + t * as, c.k);
    else if (c.type == DType::Q6_K)
      quantize_row_q8_k<Isa::Scalar>(x.data() + t * c.k, act.data() + t * as, c.k);
    else
      quantize_row_q8_0s<Isa::Scalar>(x.data() + t * c.k, act.data() + t * as, c.k);
  }
  std::vector<float> y(static_cast<size_t>(n_tok * c.n_out));
  packed_gemm_ref(c.type, c.k, c.packed.data, c.packed.row_stride, static_cast<int>(c.n_out), act.data(), as,
                  static_cast<int>(n_tok), y.data(), static_cast<size_t>(c.n_out));
  return y;
}

// Float rounding is relative to the partial sums, which are of the size of a typical output
// (random weights and activations cancel): rms is the root mean square of the wanted outputs. A
// wrong value, offset or scale is off by about rms.
float tolerance(float want, float rms) { return 2e-5f * (1.0f + std::fabs(want) + rms); }

float rms_of(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return static_cast<float>(std::sqrt(s / static_cast<double>(v.size())));
}

TEST(Packed, ReferenceMatchesRowKernelOnOriginalLayout) {
  std::mt19937 rng(5);
  ThreadPool pool(2);
  const VecDotTable& scalar = vec_dot_table(Isa::Scalar);
  for (DType t : kPackTypes) {
    const int64_t k = block_size(t) == 256 ? 768 : 160;
    for (int64_t n_out : {1, 16, 37}) {
      const Case c = make_case(t, k, n_out, rng, pool);
      EXPECT_EQ(packed_matrix_bytes(c.w), packed_group_bytes(t, k) * static_cast<size_t>((n_out + 15) / 16));
      const auto x = random_x(3 * k, rng);
      const auto got = reference(c, x, 3);
      MatmulScratch scratch;
      std::vector<float> want(got.size());
      matmul(scalar, c.w, x.data(), k, 3, want.data(), n_out, pool, scratch);
      const float rms = rms_of(want);
      for (size_t i = 0; i < want.size(); ++i)
        ASSERT_NEAR(got[i], want[i], tolerance(want[i], rms)) << dtype_name(t) << " n_out=" << n_out << " i=" << i;
    }
  }
}

TEST(Packed, EveryIsaKernelMatchesReference) {
  std::mt19937 rng(6);
  ThreadPool pool1(1), pool2(2);
  int checked = 0;
  for (Isa isa : available_isas()) {
    const VecDotTable& tab = vec_dot_table(isa);
    for (DType t : kPackTypes) {
      if (tab.packed[static_cast<size_t>(t)].gemm == nullptr) continue;
      for (int64_t k : {block_size(t) == 256 ? int64_t{512} : int64_t{96}, int64_t{2048}}) {
        for (int64_t n_out : {5, 16, 53}) {
          const Case c = make_case(t, k, n_out, rng, pool2);
          for (int64_t n_tok : {1, 7, 8, 13, 40}) {
            const auto x = random_x(n_tok * k, rng);
            const auto want = reference(c, x, n_tok);
            const float rms = rms_of(want);
            // Strided output: a guard column past n_out must stay untouched.
            const int64_t ys = n_out + 1;
            std::vector<float> y1(static_cast<size_t>(n_tok * ys), -9.0f), y2 = y1;
            MatmulScratch scratch;
            matmul(tab, c.packed, x.data(), k, n_tok, y1.data(), ys, pool1, scratch);
            matmul(tab, c.packed, x.data(), k, n_tok, y2.data(), ys, pool2, scratch);
            for (int64_t tok = 0; tok < n_tok; ++tok) {
              for (int64_t r = 0; r < n_out; ++r) {
                const float g = y1[static_cast<size_t>(tok * ys + r)], w = want[static_cast<size_t>(tok * n_out + r)];
                ASSERT_NEAR(g, w, tolerance(w, rms)) << isa_name(isa) << " " << dtype_name(t) << " k=" << k
                                                << " n_out=" << n_out << " n_tok=" << n_tok << " t=" << tok << " r=" << r;
                // F16: the reference's order of fused multiply-adds, so its bits exactly.
                if (t == DType::F16) {
                  ASSERT_EQ(g, w) << isa_name(isa) << " k=" << k << " n_tok=" << n_tok << " r=" << r;
                }
                ASSERT_EQ(g, y2[static_cast<size_t>(tok * ys + r)]) << "thread count changed a result";
              }
              ASSERT_EQ(y1[static_cast<size_t>(tok * ys + n_out)], -9.0f) << "wrote past n_out";
            }
            // A token's result does not depend on how many tokens share its tile.
            std::vector<float> one(static_cast<size_t>(ys), -9.0f);
            matmul(tab, c.packed, x.data() + (n_tok - 1) * k, k, 1, one.data(), ys, pool2, scratch);
            for (int64_t r = 0; r < n_out; ++r)
              ASSERT_EQ(one[static_cast<size_t>(r)], y1[static_cast<size_t>((n_tok - 1) * ys + r)])
                  << isa_name(isa) << " " << dtype_name(t) << " n_tok=" << n_tok << " r=" << r;
            ++checked;
          }
        }
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no ISA level on this CPU has packed kernels (needs AVX-512 VNNI)";
}

// Every row read back from the packed layout equals the original row dequantized, bit for bit;
// get_rows does the same through the matrix, packed or not, and refuses ids out of range.
TEST(Packed, RowsReadBackEqualDequantizedRows) {
  std::mt19937 rng(7);
  ThreadPool pool(2);
  for (DType t : kPackTypes) {
    const int64_t k = block_size(t) == 256 ? 512 : 96;
    const int64_t n_out = 37;
    const Case c = make_case(t, k, n_out, rng, pool);
    std::vector<int32_t> ids(static_cast<size_t>(n_out));
    for (int32_t i = 0; i < n_out; ++i) ids[static_cast<size_t>(i)] = (i * 11) % static_cast<int32_t>(n_out);
    std::vector<float> from_packed(static_cast<size_t>(n_out * k)), from_rows = from_packed, want(static_cast<size_t>(k));
    get_rows(c.packed, ids.data(), n_out, from_packed.data());
    get_rows(c.w, ids.data(), n_out, from_rows.data());
    for (int64_t i = 0; i < n_out; ++i) {
      const int32_t id = ids[static_cast<size_t>(i)];
      dequantize_row(t, c.wbytes.data() + static_cast<size_t>(id) * c.w.row_stride, want.data(), k);
      for (int64_t e = 0; e < k; ++e) {
        ASSERT_EQ(from_packed[static_cast<size_t>(i * k + e)], want[static_cast<size_t>(e)])
            << dtype_name(t) << " row " << id << " element " << e;
        ASSERT_EQ(from_rows[static_cast<size_t>(i * k + e)], want[static_cast<size_t>(e)]);
      }
    }
    const int32_t bad[] = {0, static_cast<int32_t>(n_out)};
    EXPECT_THROW(get_rows(c.packed, bad, 2, from_packed.data()), InputError) << dtype_name(t);
  }
}

TEST(Packed, UnpackableTypeIsRefused) {
  ThreadPool pool(1);
  std::vector<uint8_t> w(row_bytes(DType::Q5_K, 256) * 2);
  const WeightMatrix m{DType::Q5_K, w.data(), 256, 2, row_bytes(DType::Q5_K, 256)};
  EXPECT_FALSE(packable(DType::Q5_K));
  std::vector<uint8_t> dst(4096);
  EXPECT_ANY_THROW(pack_matrix(m, dst.data(), pool));
}

}  // namespace
}  // namespace tandem
