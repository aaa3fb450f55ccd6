#include "cli/calibrate_layer_work.h"

#include <cmath>
#include <cstddef>
#include <random>
#include <utility>

#include "core/half.h"
#include "kernels/attend.h"
#include "kernels/element_ops.h"
#include "kernels/quant.h"
#include "kernels/rope.h"

namespace tandem::cli {

namespace {
constexpr int64_t kBlock = 32;  // KV positions per block, as the engine's pool holds them
}  // namespace

LayerWork::LayerWork(const plan::ModelDesc& m, int64_t n_head, int64_t n_kv, int64_t rows, int threads)
    : d_model_(m.d_model), n_head_(n_head), n_kv_(n_kv), hd_(m.head_dim), rows_(rows) {
  ok_ = !m.mla() && d_model_ > 0 && n_head_ > 0 && n_kv_ > 0 && n_head_ % n_kv_ == 0 && hd_ > 0 && hd_ % 2 == 0 &&
        rows_ > 0 && rows_ <= kCtx && quant_ops().quantize[static_cast<size_t>(DType::F16)] != nullptr;
  if (!ok_) return;
  kern_ = AttendKernels::of(DType::F16, hd_);
  std::mt19937 rng(2);
  std::normal_distribution<float> d(0, 1);
  auto filled = [&](int64_t n, float scale = 1.0f) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = scale * d(rng);
    return v;
  };
  const int64_t qd = n_head_ * hd_, kd = n_kv_ * hd_;
  x_ = filled(rows_ * d_model_);
  y_ = filled(rows_ * d_model_);
  w_ = filled(d_model_);
  q_ = filled(rows_ * qd);
  k_ = filled(rows_ * kd);
  v_ = filled(rows_ * kd);
  kv_store_.resize(static_cast<size_t>(2 * rows_ * kd));
  pos_.resize(static_cast<size_t>(rows_));
  for (int64_t t = 0; t < rows_; ++t) pos_[static_cast<size_t>(t)] = static_cast<int32_t>(t);
  // Attention: kCtx positions of keys and values, a query row per position.
  keys_.resize(static_cast<size_t>(kCtx * kd));
  values_.resize(keys_.size());
  for (auto& v : keys_) v = to_f16(0.3f * d(rng)).bits;
  for (auto& v : values_) v = to_f16(d(rng)).bits;
  qa_ = filled(kCtx * qd);
  // Per thread: scores, the group's outputs, its converted query heads.
  const int64_t group = n_head_ / n_kv_;
  per_thread_ = static_cast<size_t>(group) * (static_cast<size_t>(kCtx) + static_cast<size_t>(hd_) * 2 + 64);
  scratch_.resize(per_thread_ * static_cast<size_t>(std::max(threads, 1)));
}

void LayerWork::vector() {
  const int64_t dm = d_model_, kd = n_kv_ * hd_;
  const QuantizeFn store = quant_ops().quantize[static_cast<size_t>(DType::F16)];
  for (int n = 0; n < 2; ++n) {
    for (int64_t t = 0; t < rows_; ++t) rms_norm(x_.data() + t * dm, w_.data(), 1e-5f, y_.data() + t * dm, dm);
    add(x_.data(), y_.data(), x_.data(), rows_ * dm);
  }
  RopeParams rp;
  rp.n_dims = static_cast<int>(hd_);
  rope(q_.data(), rows_, n_head_, hd_, pos_.data(), rp);
  rope(k_.data(), rows_, n_kv_, hd_, pos_.data(), rp);
  for (int64_t t = 0; t < rows_; ++t) {
    store(k_.data() + t * kd, kv_store_.data() + 2 * t * kd, kd);
    store(v_.data() + t * kd, kv_store_.data() + (2 * t + 1) * kd, kd);
  }
}

void LayerWork::attend(int64_t p0, ThreadPool& pool) {
  const int64_t nh = n_head_, nkv = n_kv_, hd = hd_, group = nh / nkv;
  const size_t row = static_cast<size_t>(nkv * hd) * sizeof(uint16_t);  // bytes per position
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  pool.run(rows_ * nkv, [&](int64_t task, int thread) {
    const int64_t r = p0 + task / nkv, kvh = task % nkv;
    float* s = scratch_.data() + static_cast<size_t>(thread) * per_thread_;
    float* out = s + static_cast<size_t>(group) * kCtx;
    auto* act = reinterpret_cast<std::byte*>(out + group * hd);
    const size_t head = static_cast<size_t>(kvh * hd) * sizeof(uint16_t);
    auto block_at = [&](int64_t j) {
      const size_t at = static_cast<size_t>(j) * row + head;
      return std::pair<const std::byte*, const std::byte*>(reinterpret_cast<const std::byte*>(keys_.data()) + at,
                                                           reinterpret_cast<const std::byte*>(values_.data()) + at);
    };
    attend_group(kern_, hd, hd, group, r + 1, kBlock, block_at, row, row, qa_.data() + (r * nh + kvh * group) * hd, scale,
                 s, static_cast<size_t>(kCtx), act, out);
  });
}

double LayerWork::vector_bytes() const {
  // ModelDesc::vector_elements_per_layer: 4 d_model replicated, head_dim x (n_head + 3 n_kv) split.
  return 4.0 * static_cast<double>(rows_) *
         (4.0 * static_cast<double>(d_model_) + static_cast<double>(hd_) * static_cast<double>(n_head_ + 3 * n_kv_));
}

double LayerWork::attend_flops(int64_t p0) const {
  // ModelDesc::attn_flops_per_token: 4 x n_head x head_dim a position attended.
  const double positions = static_cast<double>(rows_) * static_cast<double>(p0) + static_cast<double>(rows_ * (rows_ + 1) / 2);
  return 4.0 * static_cast<double>(n_head_ * hd_) * positions;
}

}  // namespace tandem::cli
