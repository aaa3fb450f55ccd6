#include "engine/group.h"

#include <cstring>

#include "core/buffer.h"
#include "core/error.h"
#include "model/context.h"
#include "model/kv_layout.h"

namespace tandem::engine {
namespace {

// An order on the wire: a header {kind, payload words}, then the payload (when not empty):
//   n_copies, n_seqs, {src, dst, bytes} x n_copies, {pos, n_tokens, n_blocks, logits} x n_seqs,
//   every sequence's tokens, every sequence's block ids
// all as int64 (a step's order is a few hundred words; its forward pass moves megabytes).
constexpr int64_t kMaxPayload = int64_t{1} << 26;

void check_order(bool ok, const char* what) {
  if (!ok) throw_runtime("group: malformed order from rank 0 ({}): are all ranks running the same tandem?", what);
}

}  // namespace

namespace {

// Rank 0 to every follower, without waiting for any of them (a follower may still be busy with
// an earlier step: pipeline stages).
void to_followers(Collective& group, const void* data, size_t bytes) {
  for (int r = 1; r < group.size(); ++r) group.send_async(data, bytes, r, kTagOrder);
}

}  // namespace

void send_config(Collective& group, const GroupConfig& c) {
  int64_t w[5] = {c.n_blocks, c.block_tokens, c.n_ctx, c.batch_tokens, static_cast<int64_t>(c.kv_type)};
  to_followers(group, w, sizeof(w));
}

void send_order(Collective& group, OrderKind kind, std::span<const cache::BlockCopy> copies,
                std::span<const OrderSeq> seqs) {
  std::vector<int64_t> p;
  if (kind == OrderKind::Step) {
    p.push_back(static_cast<int64_t>(copies.size()));
    p.push_back(static_cast<int64_t>(seqs.size()));
    for (const cache::BlockCopy& c : copies) p.insert(p.end(), {c.src, c.dst, static_cast<int64_t>(c.bytes)});
    for (const OrderSeq& s : seqs)
      p.insert(p.end(), {s.pos, static_cast<int64_t>(s.tokens.size()), static_cast<int64_t>(s.blocks.size()),
                         static_cast<int64_t>(s.logits)});
    for (const OrderSeq& s : seqs) p.insert(p.end(), s.tokens.begin(), s.tokens.end());
    for (const OrderSeq& s : seqs) p.insert(p.end(), s.blocks.begin(), s.blocks.end());
  }
  int64_t head[2] = {static_cast<int64_t>(kind), static_cast<int64_t>(p.size())};
  to_followers(group, head, sizeof(head));
  if (!p.empty()) to_followers(group, p.data(), p.size() * sizeof(int64_t));
  if (kind == OrderKind::Heartbeat) group.barrier();  // every rank answers: a hung one is found while idle
}

int64_t follow(const model::Model& model, ThreadPool* pool) {
  Collective* group = model.world();
  TANDEM_CHECK(group != nullptr && group->rank() != 0, "follow() on rank 0 or without a group");
  int64_t w[5] = {};
  group->recv(w, sizeof(w), 0, kTagOrder);
  GroupConfig c{w[0], w[1], w[2], w[3], static_cast<DType>(w[4])};
  const model::KvLayout layout(model.local_hparams(), c.kv_type, c.block_tokens);
  check_order(c.n_blocks > 0 && c.block_tokens == layout.block_tokens() && c.n_ctx > 0 && c.batch_tokens > 0,
              "configuration");
  // The same pool as rank 0's (cache::BlockPool), as plain memory: rank 0 decides which blocks
  // are in use.
  const size_t stride = (layout.block_bytes() + 63) / 64 * 64;
  AlignedBuffer kv(stride * static_cast<size_t>(c.n_blocks));
  model::BatchForward forward(model, layout, c.batch_tokens, c.n_ctx, pool);
  // Pipeline stages overlap: the last stage sends the logits to rank 0 alone (engine.h).
  if (model.shard().n_stages > 1) forward.set_logits_to_rank0(true);
  auto block = [&](int64_t id) {
    check_order(id >= 0 && id < c.n_blocks, "block id");
    return kv.data() + static_cast<size_t>(id) * stride;
  };

  std::vector<int64_t> p;
  std::vector<model::TokenId> tokens;
  std::vector<std::byte*> blocks;
  std::vector<model::SeqStep> steps;
  for (int64_t n_steps = 0;;) {
    int64_t head[2] = {};
    group->recv(head, sizeof(head), 0, kTagOrder);
    const auto kind = static_cast<OrderKind>(head[0]);
    if (kind == OrderKind::Stop) return n_steps;
    if (kind == OrderKind::Heartbeat) {
      group->barrier();
      continue;
    }
    check_order(kind == OrderKind::Step && head[1] >= 2 && head[1] <= kMaxPayload, "header");
    p.resize(static_cast<size_t>(head[1]));
    group->recv(p.data(), p.size() * sizeof(int64_t), 0, kTagOrder);
    const int64_t n_copies = p[0], n_seqs = p[1];
    check_order(n_copies >= 0 && n_seqs > 0 && 2 + 3 * n_copies + 4 * n_seqs <= head[1], "counts");
    size_t at = 2;
    // Whole blocks (rank 0's size is its own: a pipeline stage's blocks hold its layers only).
    for (int64_t i = 0; i < n_copies; ++i, at += 3) {
      check_order(p[at + 2] > 0 && p[at] != p[at + 1], "block copy");
      std::memcpy(block(p[at + 1]), block(p[at]), stride);
    }
    const size_t meta = at;
    int64_t n_tok = 0, n_blk = 0;
    for (int64_t s = 0; s < n_seqs; ++s) {
      const int64_t* m = &p[meta + static_cast<size_t>(4 * s)];
      check_order(m[1] > 0 && m[2] >= 0 && m[3] >= 0 && m[3] <= 2, "sequence");
      n_tok += m[1];
      n_blk += m[2];
    }
    at = meta + static_cast<size_t>(4 * n_seqs);
    check_order(static_cast<int64_t>(at) + n_tok + n_blk == head[1], "length");
    tokens.assign(p.begin() + static_cast<std::ptrdiff_t>(at), p.begin() + static_cast<std::ptrdiff_t>(at + static_cast<size_t>(n_tok)));
    blocks.clear();
    for (size_t i = at + static_cast<size_t>(n_tok); i < p.size(); ++i) blocks.push_back(block(p[i]));
    steps.clear();
    size_t t = 0, b = 0;
    for (int64_t s = 0; s < n_seqs; ++s) {
      const int64_t* m = &p[meta + static_cast<size_t>(4 * s)];
      steps.push_back({std::span<const model::TokenId>(tokens).subspan(t, static_cast<size_t>(m[1])), m[0],
                       std::span<std::byte* const>(blocks).subspan(b, static_cast<size_t>(m[2])),
                       static_cast<model::Logits>(m[3])});
      t += static_cast<size_t>(m[1]);
      b += static_cast<size_t>(m[2]);
    }
    forward.run(steps);  // its collectives pair with rank 0's; the logits are rank 0's to use
    ++n_steps;
  }
}

}  // namespace tandem::engine
