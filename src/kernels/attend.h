// One query row's attention for the query heads of one GQA group (those sharing one KV head),
// over keys and values stored by position in blocks of bt positions: the key rows through the KV
// dtype's key-score kernel (else its gemm or dot kernel) against the group's query heads,
// softmax per head, then the value rows by weighted_rows. BatchForward::attention runs it for
// each KV head of its tasks, and tandem plan --calibrate times it, so both run the same code.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "core/dtype.h"
#include "kernels/attention.h"
#include "kernels/element_ops.h"
#include "kernels/vec_dot.h"

namespace tandem {

// Reads a byte of every 64-byte line that [p, p + bytes) touches, with plain loads, many of
// which the core keeps in flight at once: a way to bring rows in from DRAM before kernels that
// would keep few in flight.
inline void touch_lines(const std::byte* p, size_t bytes) {
  if (bytes == 0) return;
  unsigned sum = std::to_integer<unsigned>(p[bytes - 1]);
  for (size_t o = 0; o < bytes; o += 64) sum += std::to_integer<unsigned>(p[o]);
  asm volatile("" : : "r"(sum));  // the loads are the point: keep them
}

// The kernels for one KV dtype and head width.
struct AttendKernels {
  VecDotKernel keys;                     // key rows . query heads
  KeyScoresFn scores = nullptr;          // the same for all of a group's heads at once, if the ISA has it
  ActQuantizeFn act_quantize = nullptr;  // query heads into the key kernel's act_type; null: f32
  size_t act_row = 0;                    // bytes of one converted query head
  WeightedRowsFn weighted_rows = nullptr;

  // The active ISA's kernels; throws when the dtype has none.
  static AttendKernels of(DType kv_type, int64_t head_dim);
};

// q: the group's `group` query heads, hd floats apart. block_at(j) (j a multiple of bt) returns
// {keys, values}: the first row of this KV head in the block holding position j, rows krow and
// vrow bytes apart. s: scratch of group x s_stride floats (s_stride >= n_keys rounded up to bt);
// act: scratch of group x act_row bytes (unused for f32 activations). out: group x hdv floats.
template <typename BlockAt>
void attend_group(const AttendKernels& k, int64_t hd, int64_t hdv, int64_t group, int64_t n_keys, int64_t bt,
                  BlockAt&& block_at, size_t krow, size_t vrow, const float* q, float scale, float* s, size_t s_stride,
                  std::byte* act, float* out) {
  const std::byte* qa = reinterpret_cast<const std::byte*>(q);
  if (k.act_quantize) {
    for (int64_t h = 0; h < group; ++h) k.act_quantize(q + h * hd, act + static_cast<size_t>(h) * k.act_row, hd);
    qa = act;
  }
  const size_t act_row = k.act_quantize ? k.act_row : static_cast<size_t>(hd) * sizeof(float);
  const int step = std::max(1, k.keys.max_rows);
  for (int64_t j = 0; j < n_keys; j += bt) {
    const std::byte* keys = block_at(j).first;
    const int64_t slots = std::min(bt, n_keys - j);
    if (k.scores) {
      k.scores(hd, keys, krow, slots, q, static_cast<int>(group), s + j, s_stride);
      continue;
    }
    if (k.keys.gemm) {
      k.keys.gemm(hd, keys, krow, static_cast<int>(slots), qa, act_row, static_cast<int>(group), s + j, s_stride);
      continue;
    }
    for (int64_t h = 0; h < group; ++h)
      for (int64_t i = 0; i < slots; i += step) {
        const int nr = static_cast<int>(std::min<int64_t>(step, slots - i));
        k.keys.dot(hd, keys + static_cast<size_t>(i) * krow, krow, nr, qa + static_cast<size_t>(h) * act_row,
                   s + static_cast<size_t>(h) * s_stride + j + i);
      }
  }
  for (int64_t h = 0; h < group; ++h) softmax(s + static_cast<size_t>(h) * s_stride, n_keys, scale);
  std::fill(out, out + group * hdv, 0.0f);
  for (int64_t j = 0; j < n_keys; j += bt)
    k.weighted_rows(block_at(j).second, vrow, std::min(bt, n_keys - j), s + j, s_stride, static_cast<int>(group), out,
                    hdv);
}

}  // namespace tandem
