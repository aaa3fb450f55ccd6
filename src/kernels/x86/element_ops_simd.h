// The element-wise operators written once over a vector-traits type V, instantiated by
// x86/avx2/element_ops.cpp (8 floats) and x86/avx512/element_ops.cpp (16 floats) with their
// own compiler flags. Tails go through a padded stack block, so every element is computed by
// the same vector code. Include only from those two files.
//
// V provides: T (vector), N, load/store (unaligned), set1, zero, add, sub, mul, div, fmadd
// (a*b+c), fnmadd (c-a*b), max, min, hsum (horizontal add), hmax, dzero/dsumsq/dhsum (a sum
// of squares accumulated in double), exp2n (x * 2^n for integral
// float n), round (to nearest even), lt/gt masks and select(mask, a, b) (a where mask).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels/element_ops.h"

namespace tandem::simd {

// e^x, max relative error ~2 ulp on [-87, 88]; 0 below ln(FLT_MIN) (so -inf gives exactly 0),
// +inf above ln(FLT_MAX). Range reduction x = n ln2 + r with ln2 split in two; a degree-6
// polynomial for e^r on |r| <= ln2/2.
template <class V>
inline typename V::T exp(typename V::T x) {
  using T = typename V::T;
  const T lo = V::set1(-87.33654f), hi = V::set1(88.72283f);
  const auto small = V::lt(x, lo);
  const auto big = V::gt(x, hi);
  x = V::min(hi, V::max(lo, x));  // operand order passes a NaN through (x86 max/min return the 2nd)
  const T n = V::round(V::mul(x, V::set1(1.44269504088896341f)));
  T r = V::fnmadd(n, V::set1(0.693359375f), x);
  r = V::fnmadd(n, V::set1(-2.12194440e-4f), r);
  T p = V::set1(1.9875691500e-4f);
  p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
  p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
  p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
  p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
  p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
  T e = V::add(V::fmadd(p, V::mul(r, r), r), V::set1(1.0f));
  e = V::exp2n(e, n);
  e = V::select(small, V::zero(), e);
  return V::select(big, V::set1(std::numeric_limits<float>::infinity()), e);
}

template <class V>
inline typename V::T silu(typename V::T x) {
  const auto one = V::set1(1.0f);
  return V::div(x, V::add(one, exp<V>(V::sub(V::zero(), x))));
}

// 0.5 x (1 + tanh(y)) = x / (1 + e^{-2y}), y = sqrt(2/pi) x (1 + a x^2): no cancellation.
template <class V>
inline typename V::T gelu(typename V::T x) {
  const auto one = V::set1(1.0f);
  const auto y = V::mul(V::mul(V::set1(kSqrt2OverPi), x),
                        V::fmadd(V::mul(V::set1(kGeluCoefA), x), x, one));
  return V::div(x, V::add(one, exp<V>(V::mul(V::set1(-2.0f), y))));
}

// Applies f to n elements: full vectors, then the tail through a padded block (pad value 0).
template <class V, class F>
inline void map1(const float* x, float* out, int64_t n, F f) {
  int64_t i = 0;
  for (; i + V::N <= n; i += V::N) V::store(out + i, f(V::load(x + i)));
  if (i < n) {
    alignas(64) float buf[V::N] = {};
    std::memcpy(buf, x + i, sizeof(float) * static_cast<size_t>(n - i));
    V::store(buf, f(V::load(buf)));
    std::memcpy(out + i, buf, sizeof(float) * static_cast<size_t>(n - i));
  }
}

template <class V, class F>
inline void map2(const float* a, const float* b, float* out, int64_t n, F f) {
  int64_t i = 0;
  for (; i + V::N <= n; i += V::N) V::store(out + i, f(V::load(a + i), V::load(b + i)));
  if (i < n) {
    alignas(64) float ba[V::N] = {}, bb[V::N] = {};
    const size_t rest = sizeof(float) * static_cast<size_t>(n - i);
    std::memcpy(ba, a + i, rest);
    std::memcpy(bb, b + i, rest);
    V::store(ba, f(V::load(ba), V::load(bb)));
    std::memcpy(out + i, ba, rest);
  }
}

// Loads n - i (< N) floats into a vector padded with `pad`.
template <class V>
inline typename V::T load_tail(const float* x, int64_t count, float pad) {
  alignas(64) float buf[V::N];
  for (int k = 0; k < V::N; ++k) buf[k] = k < count ? x[k] : pad;
  return V::load(buf);
}

template <class V>
void rms_norm(const float* x, const float* w, float eps, float* out, int64_t n) {
  // The sum of squares in double (as the reference and ggml): in f32 it overflows for rows
  // whose squares add up past FLT_MAX.
  auto acc = V::dzero();
  int64_t i = 0;
  for (; i + V::N <= n; i += V::N) acc = V::dsumsq(acc, V::load(x + i));
  if (i < n) acc = V::dsumsq(acc, load_tail<V>(x + i, n - i, 0.0f));
  const float r = static_cast<float>(1.0 / std::sqrt(V::dhsum(acc) / static_cast<double>(n) + eps));
  const auto rv = V::set1(r);
  if (w) map2<V>(x, w, out, n, [&](auto a, auto b) { return V::mul(V::mul(a, rv), b); });
  else map1<V>(x, out, n, [&](auto a) { return V::mul(a, rv); });
}

template <class V>
void softmax(float* x, int64_t n, float scale, const float* mask) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const auto sv = V::set1(scale);
  auto mx = V::set1(ninf);
  int64_t i = 0;
  for (; i + V::N <= n; i += V::N) {
    auto v = V::mul(V::load(x + i), sv);
    if (mask) v = V::add(v, V::load(mask + i));
    V::store(x + i, v);
    mx = V::max(mx, v);
  }
  for (int64_t k = i; k < n; ++k) x[k] = x[k] * scale + (mask ? mask[k] : 0.0f);
  float m = V::hmax(mx);
  for (int64_t k = i; k < n; ++k) m = std::max(m, x[k]);
  if (m == ninf) {
    std::memset(x, 0, sizeof(float) * static_cast<size_t>(n));
    return;
  }
  const auto mv = V::set1(m);
  auto sum = V::zero();
  i = 0;
  for (; i + V::N <= n; i += V::N) {
    const auto e = exp<V>(V::sub(V::load(x + i), mv));
    V::store(x + i, e);
    sum = V::add(sum, e);
  }
  if (i < n) {
    const auto e = exp<V>(V::sub(load_tail<V>(x + i, n - i, ninf), mv));
    alignas(64) float buf[V::N];
    V::store(buf, e);
    std::memcpy(x + i, buf, sizeof(float) * static_cast<size_t>(n - i));
    sum = V::add(sum, e);
  }
  const auto inv = V::set1(1.0f / V::hsum(sum));
  map1<V>(x, x, n, [&](auto v) { return V::mul(v, inv); });
}

template <class V>
void fill(ElementOps& ops) {
  ops.rms_norm = rms_norm<V>;
  ops.softmax = softmax<V>;
  ops.silu = [](const float* x, float* out, int64_t n) { map1<V>(x, out, n, silu<V>); };
  ops.gelu = [](const float* x, float* out, int64_t n) { map1<V>(x, out, n, gelu<V>); };
  ops.swiglu = [](const float* g, const float* u, float* out, int64_t n) {
    map2<V>(g, u, out, n, [](auto a, auto b) { return V::mul(silu<V>(a), b); });
  };
  ops.add = [](const float* a, const float* b, float* out, int64_t n) {
    map2<V>(a, b, out, n, [](auto x, auto y) { return V::add(x, y); });
  };
  ops.mul = [](const float* a, const float* b, float* out, int64_t n) {
    map2<V>(a, b, out, n, [](auto x, auto y) { return V::mul(x, y); });
  };
  ops.scale = [](const float* x, float s, float* out, int64_t n) {
    const auto sv = V::set1(s);
    map1<V>(x, out, n, [&](auto v) { return V::mul(v, sv); });
  };
}

}  // namespace tandem::simd
