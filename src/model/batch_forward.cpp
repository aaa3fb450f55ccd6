#include "model/batch_forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/attend.h"
#include "kernels/element_ops.h"
#include "kernels/get_rows.h"
#include "kernels/quant.h"
#include "kernels/rope.h"
#include "kernels/vec_dot.h"

namespace tandem::model {
namespace {

size_t floats(int64_t a, int64_t b) { return static_cast<size_t>(a * b) * sizeof(float); }
size_t align64(size_t n) { return (n + 63) / 64 * 64; }

// Most bytes of keys and values a decode row reads into L2 before its heads run (see attention):
// half of a 1 MiB L2, so that the pass does not evict its own first rows.
constexpr size_t kTouchBytes = size_t{512} << 10;
// Decode tasks per thread at least, when a step has few decode rows (see plan_attention).
constexpr int64_t kAttnTasksPerThread = 2;

}  // namespace

BatchForward::BatchForward(const Model& model, const KvLayout& layout, int64_t max_tokens,
                           int64_t max_positions, ThreadPool* pool)
    : model_(&model),
      hp_(model.local_hparams()),
      n_vocab_(model.hparams().n_vocab),
      group_(model.tensor_group()),
      world_(model.world()),
      layout_(layout),
      attend_(AttendKernels::of(layout.dtype(), hp_.head_dim_k)),
      pool_(pool ? pool : &ThreadPool::global()),
      max_tokens_(max_tokens),
      max_pos_(max_positions) {
  TANDEM_CHECK(max_tokens > 0 && max_positions > 0, "batch of {} tokens over {} positions",
               max_tokens, max_positions);
  const int64_t b = max_tokens;
  x_ = AlignedBuffer(floats(b, hp_.n_embd));
  h_ = AlignedBuffer(floats(b, std::max(hp_.n_embd, hp_.n_head * hp_.head_dim_v)));
  q_ = AlignedBuffer(floats(b, hp_.q_width()));
  k_ = AlignedBuffer(floats(b, hp_.k_width()));
  v_ = AlignedBuffer(floats(b, hp_.v_width()));
  attn_ = AlignedBuffer(floats(b, hp_.n_head * hp_.head_dim_v));
  gate_ = AlignedBuffer(floats(b, hp_.n_ff));
  up_ = AlignedBuffer(floats(b, hp_.n_ff));
  // Per thread: the scores of a GQA group's query heads and their queries in the key kernel's
  // activation format.
  const int64_t group = hp_.n_head / hp_.n_head_kv;
  scratch_stride_ = align64(floats(group * (max_pos_ + layout_.block_tokens()), 1)) +
                    align64(static_cast<size_t>(group) * (floats(hp_.head_dim_k, 1) + 64));
  scratch_ = AlignedBuffer(scratch_stride_ * static_cast<size_t>(pool_->size()));
  // Tensor parallel: each rank's vocabulary rows, for gathering the logits.
  if (group_ != nullptr)
    for (int r = 0; r < group_->size(); ++r) shards_.push_back(make_shard(model.hparams(), r, group_->size()));
  pos_.resize(static_cast<size_t>(b));
  seq_.resize(static_cast<size_t>(b));
  tokens_.resize(static_cast<size_t>(b));
}

std::span<const float> BatchForward::run(std::span<const SeqStep> seqs) {
  const ModelWeights& w = model_->weights();
  const int64_t E = hp_.n_embd, qw = hp_.q_width(), kw = hp_.k_width(), vw = hp_.v_width();
  const int64_t ow = hp_.n_head * hp_.head_dim_v, F = hp_.n_ff, bt = layout_.block_tokens();
  // Flatten the sequences into rows.
  int64_t n = 0, n_out = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const SeqStep& sq = seqs[s];
    const auto len = static_cast<int64_t>(sq.tokens.size());
    TANDEM_CHECK(len > 0 && n + len <= max_tokens_, "step of {} + {} tokens, at most {}", n, len, max_tokens_);
    TANDEM_CHECK(sq.pos >= 0 && sq.pos + len <= max_pos_ &&
                     static_cast<int64_t>(sq.blocks.size()) * bt >= sq.pos + len,
                 "sequence {}: positions [{}, {}) with {} blocks of {} (at most {} positions)", s,
                 sq.pos, sq.pos + len, sq.blocks.size(), bt, max_pos_);
    for (int64_t t = 0; t < len; ++t, ++n) {
      pos_[static_cast<size_t>(n)] = static_cast<int32_t>(sq.pos + t);
      seq_[static_cast<size_t>(n)] = static_cast<int32_t>(s);
      const TokenId id = sq.tokens[static_cast<size_t>(t)];
      TANDEM_CHECK(id >= 0 && id < n_vocab_, "token id {} outside the vocabulary of {}", id, n_vocab_);
      tokens_[static_cast<size_t>(n)] = id;
    }
    n_out += sq.logits == Logits::All ? len : sq.logits == Logits::Last ? 1 : 0;
  }
  TANDEM_CHECK(n > 0, "empty step");
  plan_attention(seqs, n);

  float *x = x_.as<float>(), *h = h_.as<float>(), *q = q_.as<float>(), *k = k_.as<float>(),
        *v = v_.as<float>(), *attn = attn_.as<float>(), *gate = gate_.as<float>(), *up = up_.as<float>();
  RopeParams rp = hp_.rope_params();
  rp.freq_factors = w.rope_freqs;
  ThreadPool& pool = *pool_;
  const QuantizeFn kv_quantize = quant_ops().quantize[static_cast<size_t>(layout_.dtype())];

  // x: [n][E], the token embeddings, or the previous stage's output.
  const Shard& sh = model_->shard();
  const int tp = sh.size;
  if (sh.first_stage()) embed(n, x);
  else world_->recv(x, floats(n, E), world_->rank() - tp, kTagActivations);
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    const LayerWeights& L = w.layers[static_cast<size_t>(l)];
    if (world_ != nullptr) world_->progress();  // the previous step's activations, still going out
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
    // Keys and values of every row into its sequence's block.
    for (int64_t r = 0; r < n; ++r) {
      const int64_t p = pos_[static_cast<size_t>(r)];
      std::byte* block = seqs[static_cast<size_t>(seq_[static_cast<size_t>(r)])].blocks[static_cast<size_t>(p / bt)];
      kv_quantize(k + r * kw, layout_.key_row(block, l, p % bt), kw);
      kv_quantize(v + r * vw, layout_.value_row(block, l, p % bt), vw);
    }
    attention(l, seqs);
    matmul(L.wo, attn, ow, n, h, E, pool, mm_scratch_);
    reduce(h, n * E);
    add(x, h, x, n * E);
    // Feed-forward block: down(silu(gate(x)) * up(x)).
    for (int64_t t = 0; t < n; ++t) rms_norm(x + t * E, L.ffn_norm, hp_.rms_eps, h + t * E, E);
    matmul_swiglu(L.gate, L.up, h, E, n, gate, up, F, pool, mm_scratch_);
    matmul(L.down, gate, F, n, h, E, pool, mm_scratch_);
    reduce(h, n * E);
    add(x, h, x, n * E);
  }
  // To the same rank of the next stage, without waiting: this stage goes on with the next step.
  if (!sh.last_stage()) world_->send_async(x, floats(n, E), world_->rank() + tp, kTagActivations);
  logits_.resize(static_cast<size_t>(n_out * n_vocab_));
  if (n_out == 0) return {};
  if (sh.n_stages == 1) {
    output(seqs, n_out);
    return logits_;
  }
  // The last stage computes the logits and sends them to every rank (all run the same
  // sampling), or to rank 0 alone, which takes them with receive_logits().
  const int root = (sh.n_stages - 1) * tp;
  if (sh.last_stage()) output(seqs, n_out);
  if (!logits_to_rank0_) {
    world_->broadcast(logits_.data(), floats(n_out, n_vocab_), root);
    return logits_;
  }
  if (world_->rank() == root) world_->send_async(logits_.data(), floats(n_out, n_vocab_), 0, kTagLogits);
  return {};
}

std::span<const float> BatchForward::receive_logits(int64_t n_out) {
  const Shard& sh = model_->shard();
  TANDEM_CHECK(logits_to_rank0_ && world_ != nullptr && world_->rank() == 0 && sh.n_stages > 1,
               "receive_logits on rank {} of a pipeline of {} stages", world_ ? world_->rank() : 0, sh.n_stages);
  logits_.resize(static_cast<size_t>(n_out * n_vocab_));
  if (n_out > 0) world_->recv(logits_.data(), floats(n_out, n_vocab_), (sh.n_stages - 1) * sh.size, kTagLogits);
  return logits_;
}

// Logits of the wanted rows (x) into logits_ [n_out][n_vocab].
void BatchForward::output(std::span<const SeqStep> seqs, int64_t n_out) {
  const ModelWeights& w = model_->weights();
  const int64_t E = hp_.n_embd;
  const float* x = x_.as<float>();
  float* h = h_.as<float>();
  // Output: only the rows whose logits are wanted, in order.
  int64_t row = 0, o = 0;
  for (const SeqStep& sq : seqs) {
    const auto len = static_cast<int64_t>(sq.tokens.size());
    const int64_t first = sq.logits == Logits::All ? 0 : sq.logits == Logits::Last ? len - 1 : len;
    for (int64_t t = first; t < len; ++t, ++o)
      rms_norm(x + (row + t) * E, w.output_norm, hp_.rms_eps, h + o * E, E);
    row += len;
  }
  if (group_ == nullptr) {
    matmul(w.output, h, E, n_out, logits_.data(), n_vocab_, *pool_, mm_scratch_);
    return;
  }
  gather_logits(n_out);
}

void BatchForward::reduce(float* data, int64_t n) const {
  if (group_ != nullptr) group_->all_reduce_sum(data, static_cast<size_t>(n));
}

// Token embeddings of the step's rows, all at once when the table is plain memory. Otherwise row
// by row: a table split by vocabulary rows (tensor parallel, tied output) gives each rank the
// rows it holds and zeros elsewhere, and the sum over the group is the whole lookup; a table read
// from the mapping has its pages dropped after each row (every fault maps its neighbours too, so
// a step of many rows would hold megabytes of it).
void BatchForward::embed(int64_t n, float* x) {
  const ModelWeights& w = model_->weights();
  if (!w.tok_embd_sharded && w.tok_embd_in_file == nullptr) {
    get_rows(w.tok_embd, tokens_.data(), n, x);
    return;
  }
  const Shard& sh = model_->shard();
  const int64_t E = hp_.n_embd;
  for (int64_t r = 0; r < n; ++r) {
    TokenId id = tokens_[static_cast<size_t>(r)];
    float* out = x + r * E;
    if (w.tok_embd_sharded) {
      if (id < sh.vocab0 || id >= sh.vocab0 + sh.n_vocab) {
        std::fill(out, out + E, 0.0f);
        continue;
      }
      id -= static_cast<TokenId>(sh.vocab0);
    }
    get_rows(w.tok_embd, &id, 1, out);
    if (w.tok_embd_in_file != nullptr) model_->file().release(*w.tok_embd_in_file);
  }
  if (w.tok_embd_sharded) reduce(x, n * E);
}

// Logits of the shard's vocabulary rows for the wanted rows (h), gathered from every rank into
// logits_ [n_out][n_vocab]. Shards differ by at most one row, so each sends max_shard columns.
void BatchForward::gather_logits(int64_t n_out) {
  const ModelWeights& w = model_->weights();
  const int size = group_->size();
  const int64_t cols = (n_vocab_ + size - 1) / size;  // the largest shard
  const size_t mine = static_cast<size_t>(n_out * cols);
  part_.assign(mine * static_cast<size_t>(size + 1), 0.0f);
  matmul(w.output, h_.as<float>(), hp_.n_embd, n_out, part_.data(), cols, *pool_, mm_scratch_);
  float* all = part_.data() + mine;  // [size][n_out][cols]
  group_->all_gather(part_.data(), mine * sizeof(float), all);
  for (int r = 0; r < size; ++r) {
    const Shard& s = shards_[static_cast<size_t>(r)];
    for (int64_t o = 0; o < n_out; ++o)
      std::copy_n(all + (static_cast<int64_t>(r) * n_out + o) * cols, s.n_vocab,
                  logits_.data() + o * n_vocab_ + s.vocab0);
  }
}

void BatchForward::plan_attention(std::span<const SeqStep> seqs, int64_t n) {
  const auto n_kv = static_cast<int16_t>(hp_.n_head_kv);
  auto decode = [&](int64_t r) { return seqs[static_cast<size_t>(seq_[static_cast<size_t>(r)])].tokens.size() == 1; };
  int64_t n_decode = 0;
  for (int64_t r = 0; r < n; ++r) n_decode += decode(r) ? 1 : 0;
  // Few decode rows: their heads in shares, so that every thread has some (one row's heads
  // in one task left the other core idle through a single sequence's attention).
  const int64_t shares = n_decode == 0 ? 1
      : std::clamp<int64_t>((kAttnTasksPerThread * pool_->size() + n_decode - 1) / n_decode, 1, n_kv);
  attn_tasks_.clear();
  for (int64_t r = 0; r < n; ++r)
    if (decode(r))
      for (int64_t g = 0; g < shares; ++g)
        attn_tasks_.push_back({static_cast<int32_t>(r), static_cast<int16_t>(g * n_kv / shares),
                               static_cast<int16_t>((g + 1) * n_kv / shares), true});
  for (int16_t kvh = 0; kvh < n_kv; ++kvh)
    for (int64_t r = 0; r < n; ++r)
      if (!decode(r)) attn_tasks_.push_back({static_cast<int32_t>(r), kvh, static_cast<int16_t>(kvh + 1), false});
}

// attn[r][head] = softmax(K . q[r][head] / sqrt(hd)) . V over positions [0, pos_r] of row r's
// sequence, read block by block; the query heads that share a KV head (GQA) read each key and
// value row once.
void BatchForward::attention(int64_t layer, std::span<const SeqStep> seqs) {
  const int64_t n_head = hp_.n_head, n_kv = hp_.n_head_kv, hd = hp_.head_dim_k, hdv = hp_.head_dim_v;
  const int64_t group = n_head / n_kv, bt = layout_.block_tokens();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const float* q = q_.as<float>();
  float* attn = attn_.as<float>();
  const size_t s_stride = static_cast<size_t>(max_pos_ + bt);  // floats per head's scores
  const size_t scores_bytes = align64(floats(group * static_cast<int64_t>(s_stride), 1));
  const size_t krow = layout_.key_row_bytes(), vrow = layout_.value_row_bytes();
  // A decode row (its sequence's one row this step) is one task for all its KV heads, or a few
  // for shares of them (plan_attention). Its keys and values come from DRAM: every layer's
  // weights have streamed through L3 since the last step read them. When they fit in L2, one
  // pass of plain loads over the task's span of the layer's rows (contiguous in each row) first
  // brings them in at about twice the rate the kernels' own reads reach (strided by head, and
  // few in flight among a tile's FMAs and shuffles; software prefetches did not help); the heads
  // then read them from L2. A prompt's rows are tasks by KV head, then row: consecutive tasks
  // read the same head's keys and values, which stay in L2 from one row to the next (row-major
  // order cycled all the heads through it and read every row's keys from L3).
  pool_->run(static_cast<int64_t>(attn_tasks_.size()), [&](int64_t task, int thread) {
    const AttnTask& t = attn_tasks_[static_cast<size_t>(task)];
    const int64_t r = t.row;
    const SeqStep& sq = seqs[static_cast<size_t>(seq_[static_cast<size_t>(r)])];
    const int64_t n_keys = pos_[static_cast<size_t>(r)] + 1;
    std::byte* mine = scratch_.data() + static_cast<size_t>(thread) * scratch_stride_;
    // The task's heads' span of every key and value row.
    const size_t k0 = layout_.key_head_offset(t.head0), kspan = layout_.key_head_offset(t.head1) - k0;
    const size_t v0 = layout_.value_head_offset(t.head0), vspan = layout_.value_head_offset(t.head1) - v0;
    if (t.decode && static_cast<size_t>(n_keys) * (kspan + vspan) <= kTouchBytes)
      for (int64_t j = 0; j < n_keys; j += bt) {
        std::byte* block = sq.blocks[static_cast<size_t>(j / bt)];
        for (int64_t i = 0, slots = std::min(bt, n_keys - j); i < slots; ++i) {
          touch_lines(layout_.key_row(block, layer, i) + k0, kspan);
          touch_lines(layout_.value_row(block, layer, i) + v0, vspan);
        }
      }
    for (int64_t kvh = t.head0; kvh < t.head1; ++kvh) {
      const int64_t h0 = kvh * group;
      const size_t koff = layout_.key_head_offset(kvh), voff = layout_.value_head_offset(kvh);
      auto block_at = [&](int64_t j) {
        std::byte* block = sq.blocks[static_cast<size_t>(j / bt)];
        return std::pair<const std::byte*, const std::byte*>(layout_.key_row(block, layer, 0) + koff,
                                                             layout_.value_row(block, layer, 0) + voff);
      };
      // The group's query heads and outputs, hd and hdv floats apart.
      attend_group(attend_, hd, hdv, group, n_keys, bt, block_at, krow, vrow, q + (r * n_head + h0) * hd, scale,
                   reinterpret_cast<float*>(mine), s_stride, mine + scores_bytes, attn + (r * n_head + h0) * hdv);
    }
  });
}

}  // namespace tandem::model
