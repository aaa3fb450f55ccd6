#include "model/context.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/element_ops.h"
#include "kernels/get_rows.h"
#include "kernels/rope.h"
#include "kernels/vec_dot.h"

namespace tandem::model {
namespace {

size_t floats(int64_t a, int64_t b) { return static_cast<size_t>(a * b) * sizeof(float); }

}  // namespace

Context::Context(const Model& model, const ContextParams& p)
    : model_(&model),
      hp_(model.hparams()),
      pool_(p.pool ? p.pool : &ThreadPool::global()),
      n_ctx_(p.n_ctx > 0 ? p.n_ctx : std::min<int64_t>(hp_.n_ctx_train, 4096)),
      n_batch_(std::clamp<int64_t>(p.n_batch, 1, std::max<int64_t>(n_ctx_, 1))),
      kv_(hp_.n_layer, n_ctx_, hp_.n_head_kv, hp_.head_dim_k, hp_.head_dim_v, p.kv_type) {
  if (p.n_ctx < 0) throw_input("context size {} is negative", p.n_ctx);
  const int64_t b = n_batch_;
  x_ = AlignedBuffer(floats(b, hp_.n_embd));
  h_ = AlignedBuffer(floats(b, std::max(hp_.n_embd, hp_.n_head * hp_.head_dim_v)));
  q_ = AlignedBuffer(floats(b, hp_.q_width()));
  k_ = AlignedBuffer(floats(b, hp_.k_width()));
  v_ = AlignedBuffer(floats(b, hp_.v_width()));
  attn_ = AlignedBuffer(floats(b, hp_.n_head * hp_.head_dim_v));
  gate_ = AlignedBuffer(floats(b, hp_.n_ff));
  up_ = AlignedBuffer(floats(b, hp_.n_ff));
  scores_ = AlignedBuffer(floats(pool_->size(), n_ctx_ + 16));
  pos_.resize(static_cast<size_t>(b));
}

void Context::truncate(int64_t n) {
  TANDEM_CHECK(n >= 0 && n <= n_past_, "truncate to {} of {} positions", n, n_past_);
  n_past_ = n;
}

std::span<const float> Context::eval(std::span<const TokenId> tokens, bool all_logits) {
  const auto n = static_cast<int64_t>(tokens.size());
  if (n == 0) throw_input("nothing to evaluate: no tokens");
  if (n_past_ + n > n_ctx_)
    throw_input("{} tokens after {} already in the context do not fit its {} positions (raise -c)",
                n, n_past_, n_ctx_);
  for (int64_t i = 0; i < n; ++i)
    if (tokens[static_cast<size_t>(i)] < 0 || tokens[static_cast<size_t>(i)] >= hp_.n_vocab)
      throw_input("token id {} at position {} is outside the vocabulary of {}",
                  tokens[static_cast<size_t>(i)], n_past_ + i, hp_.n_vocab);
  const int64_t n_out = all_logits ? n : 1;
  logits_.resize(static_cast<size_t>(n_out * hp_.n_vocab));
  for (int64_t done = 0; done < n;) {
    const int64_t chunk = std::min(n_batch_, n - done);
    const bool last = done + chunk == n;
    float* out = all_logits ? logits_.data() + done * hp_.n_vocab : (last ? logits_.data() : nullptr);
    forward(tokens.data() + done, chunk, all_logits, out);
    done += chunk;
  }
  return logits_;
}

// One chunk of n tokens at positions [n_past, n_past + n). logits: null (no output wanted),
// [n_vocab] for the last token, or [n][n_vocab] when all_logits.
void Context::forward(const TokenId* tokens, int64_t n, bool all_logits, float* logits) {
  const ModelWeights& w = model_->weights();
  const int64_t E = hp_.n_embd, qw = hp_.q_width(), kw = hp_.k_width(), vw = hp_.v_width();
  const int64_t ow = hp_.n_head * hp_.head_dim_v, F = hp_.n_ff;
  float *x = x_.as<float>(), *h = h_.as<float>(), *q = q_.as<float>(), *k = k_.as<float>(),
        *v = v_.as<float>(), *attn = attn_.as<float>(), *gate = gate_.as<float>(), *up = up_.as<float>();
  const int64_t pos0 = n_past_;
  for (int64_t t = 0; t < n; ++t) pos_[static_cast<size_t>(t)] = static_cast<int32_t>(pos0 + t);
  RopeParams rp = hp_.rope_params();
  rp.freq_factors = w.rope_freqs;
  ThreadPool& pool = *pool_;
  auto mm = [&](const WeightMatrix& m, const float* in, int64_t in_stride, float* out, int64_t out_stride) {
    matmul(m, in, in_stride, n, out, out_stride, pool, mm_scratch_);
  };

  get_rows(w.tok_embd, tokens, n, x);  // x: [n][E]
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    const LayerWeights& L = w.layers[static_cast<size_t>(l)];
    // Attention block.
    for (int64_t t = 0; t < n; ++t) rms_norm(x + t * E, L.attn_norm, hp_.rms_eps, h + t * E, E);
    const MatmulOut qkv[] = {{&L.wq, q, qw}, {&L.wk, k, kw}, {&L.wv, v, vw}};
    matmul_multi(vec_dot_table(), qkv, h, E, n, pool, mm_scratch_);
    if (L.bq) {
      add_row(q, L.bq, q, n, qw);
      add_row(k, L.bk, k, n, kw);
      add_row(v, L.bv, v, n, vw);
    }
    if (L.q_norm) {
      const int64_t hd = hp_.head_dim_k;
      for (int64_t r = 0; r < n * hp_.n_head; ++r) rms_norm(q + r * hd, L.q_norm, hp_.rms_eps, q + r * hd, hd);
      for (int64_t r = 0; r < n * hp_.n_head_kv; ++r) rms_norm(k + r * hd, L.k_norm, hp_.rms_eps, k + r * hd, hd);
    }
    rope(q, n, hp_.n_head, hp_.head_dim_k, pos_.data(), rp);
    rope(k, n, hp_.n_head_kv, hp_.head_dim_k, pos_.data(), rp);
    kv_.store(l, pos0, n, k, v);
    attention(l, n, pos0);
    mm(L.wo, attn, ow, h, E);
    add(x, h, x, n * E);
    // Feed-forward block: down(silu(gate(x)) * up(x)).
    for (int64_t t = 0; t < n; ++t) rms_norm(x + t * E, L.ffn_norm, hp_.rms_eps, h + t * E, E);
    matmul_swiglu(L.gate, L.up, h, E, n, gate, up, F, pool, mm_scratch_);
    mm(L.down, gate, F, h, E);
    add(x, h, x, n * E);
  }
  n_past_ += n;
  if (!logits) return;
  // Output: only the rows whose logits are wanted.
  const int64_t first = all_logits ? 0 : n - 1, n_out = n - first;
  for (int64_t t = first; t < n; ++t) rms_norm(x + t * E, w.output_norm, hp_.rms_eps, h + (t - first) * E, E);
  matmul(w.output, h, E, n_out, logits, hp_.n_vocab, pool, mm_scratch_);
}

// attn[t][head] = softmax(K . q[t][head] / sqrt(hd)) . V over positions [0, pos0 + t].
void Context::attention(int64_t layer, int64_t n, int64_t pos0) {
  const int64_t n_head = hp_.n_head, hd = hp_.head_dim_k, hdv = hp_.head_dim_v;
  const int64_t group = n_head / hp_.n_head_kv;
  const VecDotKernel& kern = vec_dot_table().by_weight[static_cast<size_t>(kv_.dtype())];
  TANDEM_CHECK(kern.dot && kern.act_type == DType::F32, "no f32-activation kernel for KV type {}",
               dtype_name(kv_.dtype()));
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const float* q = q_.as<float>();
  float* attn = attn_.as<float>();
  const int step = std::max(1, kern.max_rows);
  pool_->run(n * n_head, [&](int64_t task, int thread) {
    const int64_t t = task / n_head, head = task % n_head, kvh = head / group;
    const int64_t n_keys = pos0 + t + 1;
    float* s = scores_.as<float>() + thread * (n_ctx_ + 16);
    const float* qv = q + (t * n_head + head) * hd;
    const std::byte* keys = kv_.keys(layer, kvh);
    for (int64_t j = 0; j < n_keys; j += step) {
      const int nr = static_cast<int>(std::min<int64_t>(step, n_keys - j));
      kern.dot(hd, keys + static_cast<size_t>(j) * kv_.key_stride(), kv_.key_stride(), nr, qv, s + j);
    }
    softmax(s, n_keys, scale);
    float* out = attn + (t * n_head + head) * hdv;
    const std::byte* vals = kv_.values(layer, kvh);
    for (int64_t d = 0; d < hdv; d += step) {
      const int nr = static_cast<int>(std::min<int64_t>(step, hdv - d));
      kern.dot(n_keys, vals + static_cast<size_t>(d) * kv_.value_stride(), kv_.value_stride(), nr, s, out + d);
    }
  });
}

}  // namespace tandem::model
