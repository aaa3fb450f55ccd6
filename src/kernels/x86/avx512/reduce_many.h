// The lane sums of up to 16 AVX-512 vectors at once, for kernels that end with one horizontal
// sum per output (the float gemm's (row, token) accumulators, attention's key scores). One
// _mm512_reduce_add_ps per vector costs ~9 instructions; summing 16 together through a tree of
// shuffles costs ~3 per vector. Each vector's lanes are still added in _mm512_reduce_add_ps's
// own order (halves, then quarters, then lanes 0 + 2 and 1 + 3, then those two), so a sum has
// the same bits however many vectors share the tree. Include only from x86/avx512 files.
#pragma once

#include <immintrin.h>

#include <array>

namespace tandem::avx512 {

namespace reduce_detail {

// Vectors the tree starts from: N rounded up to a power of two.
constexpr int width(int n) { return n <= 1 ? 1 : 2 * width((n + 1) / 2); }

// Which input each lane of the tree's result belongs to (-1: none), found by running the
// tree's shuffles on input numbers instead of floats.
template <int N>
constexpr std::array<int, N> lane_of() {
  using Owners = std::array<int, 16>;
  constexpr int P = width(N);
  std::array<Owners, P> v{};
  for (int j = 0; j < P; ++j)
    for (int l = 0; l < 16; ++l) v[j][l] = j < N ? j : -1;
  int m = P;
  for (int level = 0; level < 4; ++level) {
    const int half = m > 1 ? m / 2 : 1;
    for (int j = 0; j < half; ++j) {
      const Owners a = v[j];
      Owners b{};
      for (int l = 0; l < 16; ++l) b[l] = m > 1 ? v[j + half][l] : -1;
      Owners r{};
      for (int k = 0; k < 4; ++k)
        for (int i = 0; i < 4; ++i) {
          int o = -1;
          switch (level) {
            case 0: o = k < 2 ? a[4 * k + i] : b[4 * (k - 2) + i]; break;                     // halves
            case 1: o = k < 2 ? a[8 * k + i] : b[8 * (k - 2) + i]; break;                     // quarters
            case 2: o = i < 2 ? a[4 * k + i] : b[4 * k + i - 2]; break;                       // 0 + 2, 1 + 3
            default: o = i < 2 ? a[4 * k + 2 * i] : b[4 * k + 2 * (i - 2)]; break;           // 0 + 1
          }
          r[4 * k + i] = o;
        }
      v[j] = r;
    }
    m = half;
  }
  std::array<int, N> lane{};
  for (int l = 0; l < 16; ++l)
    if (v[0][l] >= 0) lane[v[0][l]] = l;
  return lane;
}

// One level of the tree: the lanes of a and b folded in half, a's halves in the low part.
template <int Level>
inline __attribute__((always_inline)) __m512 fold(__m512 a, __m512 b) {
  if constexpr (Level == 0)
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xee));
  else if constexpr (Level == 1)
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xdd));
  else if constexpr (Level == 2)
    return _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
  else
    return _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

// One level over the first M vectors (in place): vector j and j + M / 2 folded into j.
template <int Level, int M>
inline __attribute__((always_inline)) void fold_level(__m512* v) {
  if constexpr (M == 1) {
    v[0] = fold<Level>(v[0], _mm512_setzero_ps());
  } else {
#pragma GCC unroll 16
    for (int j = 0; j < M / 2; ++j) v[j] = fold<Level>(v[j], v[j + M / 2]);
  }
}

constexpr int after(int p, int levels) { return p >> levels > 1 ? p >> levels : 1; }

// The tree over v[0, N) (N <= 16): its one vector, the sum of v[j] in lane lane_of<N>()[j].
template <int N>
inline __attribute__((always_inline)) __m512 fold_tree(const __m512* v) {
  static_assert(N >= 1 && N <= 16);
  constexpr int P = width(N);
  __m512 t[P];
#pragma GCC unroll 16
  for (int j = 0; j < P; ++j) t[j] = j < N ? v[j] : _mm512_setzero_ps();
  fold_level<0, P>(t);
  fold_level<1, after(P, 1)>(t);
  fold_level<2, after(P, 2)>(t);
  fold_level<3, after(P, 3)>(t);
  return t[0];
}

}  // namespace reduce_detail

// sums[j] = the sum of v[j]'s 16 lanes for j < N (N <= 16), each in _mm512_reduce_add_ps's order.
template <int N>
inline __attribute__((always_inline)) void reduce_many(const __m512* v, float* sums) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, reduce_detail::fold_tree<N>(v));
  constexpr std::array<int, N> lane = reduce_detail::lane_of<N>();
#pragma GCC unroll 16
  for (int j = 0; j < N; ++j) sums[j] = lanes[lane[j]];
}

// reduce_many<16> as one vector: the sum of v[j] in lane j.
inline __attribute__((always_inline)) __m512 reduce_16(const __m512* v) {
  constexpr std::array<int, 16> lane = reduce_detail::lane_of<16>();
  const __m512i order = _mm512_setr_epi32(lane[0], lane[1], lane[2], lane[3], lane[4], lane[5], lane[6], lane[7],
                                          lane[8], lane[9], lane[10], lane[11], lane[12], lane[13], lane[14], lane[15]);
  return _mm512_permutexvar_ps(order, reduce_detail::fold_tree<16>(v));
}

}  // namespace tandem::avx512
