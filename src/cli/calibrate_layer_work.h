// tandem plan --calibrate: one layer's work besides its matrix products, as BatchForward runs it,
// for a share of the heads (all of them, or one rank's under tensor parallelism):
// - the per-token vector work: two RMS norms and two residual adds over d_model, the rotary
//   embedding of the query and key heads, the f16 KV store of the key and value heads (on the
//   calling thread);
// - causal attention of a chunk of prompt rows over f16 KV stored by position in 32-position
//   blocks (kernels/attend.h, one task per row and KV head).
// plan::ModelDesc counts the same work (vector_elements_per_layer, attn_flops_per_token).
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/attend.h"
#include "plan/model_desc.h"

namespace tandem::cli {

class LayerWork {
 public:
  static constexpr int64_t kCtx = 512;  // positions of KV held

  // m's layer with n_head query heads over n_kv KV heads (n_head a multiple of n_kv), `rows`
  // tokens a call, up to `threads` threads attending.
  LayerWork(const plan::ModelDesc& m, int64_t n_head, int64_t n_kv, int64_t rows, int threads);

  // False for a layer these kernels do not time (MLA, an odd head width, no heads).
  bool ok() const { return ok_; }

  void vector();
  // The rows at positions [p0, p0 + rows) attend over positions [0, p + 1) (p0 + rows <= kCtx).
  void attend(int64_t p0, ThreadPool& pool);

  // What ModelDesc counts for them: bytes of f32 elements, and FLOPs.
  double vector_bytes() const;
  double attend_flops(int64_t p0) const;

 private:
  bool ok_ = false;
  AttendKernels kern_;
  int64_t d_model_ = 0, n_head_ = 0, n_kv_ = 0, hd_ = 0, rows_ = 0;
  std::vector<float> x_, y_, w_, q_, k_, v_, qa_, scratch_;
  std::vector<uint16_t> kv_store_, keys_, values_;
  std::vector<int32_t> pos_;
  size_t per_thread_ = 0;
};

}  // namespace tandem::cli
