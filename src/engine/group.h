// The serving engine over a tensor-parallel group (mpirun -n N tandem serve --tp N): rank 0 runs
// the HTTP server, the scheduler and sampling; every rank runs the forward pass on its slice of
// the model and its own KV heads. Before each step rank 0 sends every follower the step's orders:
// the whole-block copies the scheduler made (copy-on-write of a shared block, the start of a
// cached block) and, for every sequence, its
// tokens, first position, KV block ids and whether it wants logits. The other ranks (followers)
// repeat them on pools of the same size, so block ids mean the same on every rank.
//
// No rank waits forever: while idle, rank 0 sends a heartbeat once a second that every rank
// answers (a barrier), so a follower's wait for its next order and rank 0's knowledge that the
// followers are alive are both bounded by --tp-timeout, busy or idle; rank 0 ends the followers
// with a Stop order when it shuts down.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "cache/block_pool.h"
#include "core/collective.h"
#include "core/dtype.h"
#include "core/thread_pool.h"
#include "model/batch_forward.h"
#include "model/model.h"

namespace tandem::engine {

// What a follower needs to build the same pool and forward pass as rank 0.
struct GroupConfig {
  int64_t n_blocks = 0, block_tokens = 0, n_ctx = 0, batch_tokens = 0;
  DType kv_type = DType::F16;
};

enum class OrderKind : int64_t { Heartbeat = 0, Step = 1, Stop = 2 };

// One sequence's part of a step, by block ids (SeqStep has addresses, which differ by rank).
struct OrderSeq {
  int64_t pos = 0;
  std::span<const model::TokenId> tokens;
  std::span<const cache::BlockId> blocks;
  model::Logits logits = model::Logits::Last;
};

// Rank 0's side.
void send_config(Collective& group, const GroupConfig& c);
void send_order(Collective& group, OrderKind kind, std::span<const cache::BlockCopy> copies = {},
                std::span<const OrderSeq> seqs = {});

// A follower: receives the configuration, then runs every step rank 0 orders until Stop.
// Returns the number of steps run. RuntimeError when an order is malformed (a bug, or ranks
// running different builds).
int64_t follow(const model::Model& model, ThreadPool* pool = nullptr);

}  // namespace tandem::engine
