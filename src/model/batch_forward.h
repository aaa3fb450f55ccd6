// The forward pass over a batch of sequences: every sequence contributes some tokens (a chunk
// of its prompt, or one token in decode), all of them go through the matrix multiplications
// together (one pass over the weights for the whole batch), and attention reads each
// sequence's keys and values through its own list of KV blocks (kv_layout.h).
//
// A row's result does not depend on the other rows of the batch: the matmul kernels give every
// token the bits it would get alone, and attention is per row. So a sequence's logits are the
// same alone or in a batch of 32, and the same whether its prompt came in one chunk or many.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/buffer.h"
#include "core/thread_pool.h"
#include "kernels/attend.h"
#include "kernels/matmul.h"
#include "model/kv_layout.h"
#include "model/model.h"

namespace tandem::model {

enum class Logits : uint8_t { None, Last, All };

// One sequence's part of a step: tokens at positions [pos, pos + tokens.size()), whose keys and
// values are written into and read from blocks (blocks[i] holds positions [i * block_tokens,
// (i + 1) * block_tokens); enough blocks to cover pos + tokens.size()).
struct SeqStep {
  std::span<const TokenId> tokens;
  int64_t pos = 0;
  std::span<std::byte* const> blocks;
  Logits logits = Logits::Last;
};

class BatchForward {
 public:
  // max_tokens: most tokens in one step (all sequences together); max_positions: the longest
  // sequence attention will see.
  BatchForward(const Model& model, const KvLayout& layout, int64_t max_tokens,
               int64_t max_positions, ThreadPool* pool = nullptr);
  BatchForward(const BatchForward&) = delete;
  BatchForward& operator=(const BatchForward&) = delete;

  // Runs one step and returns the wanted logits, [rows][n_vocab], in the order of seqs (Last:
  // one row, All: one per token). Valid until the next call. The caller checks token ids and
  // lengths (InputError here only as a last line: a TANDEM_CHECK).
  std::span<const float> run(std::span<const SeqStep> seqs);

  // Pipeline stages: run() on a stage other than the last sends its activations on without
  // waiting and returns no logits, so that a stage can start the next step while the later
  // stages finish this one. By default the last stage then sends the logits to every rank (all
  // run the same sampling) and run() returns them everywhere; with logits_to_rank0 it sends them
  // to rank 0 only, which takes them, step by step in order, with receive_logits(rows wanted).
  void set_logits_to_rank0(bool on) { logits_to_rank0_ = on; }

  // The thread pool the forward pass runs on (the caller's, or the process's).
  ThreadPool& pool() const { return *pool_; }
  std::span<const float> receive_logits(int64_t n_out);

 private:
  void plan_attention(std::span<const SeqStep> seqs, int64_t n);
  void attention(int64_t layer, std::span<const SeqStep> seqs);

  // Sums the partial results of a tensor-parallel group in place (no group: nothing to do).
  void reduce(float* data, int64_t n) const;
  void embed(int64_t n, float* x);
  void gather_logits(int64_t n_out);
  void output(std::span<const SeqStep> seqs, int64_t n_out);

  const Model* model_;
  const HParams& hp_;  // this process's part (model.local_hparams())
  int64_t n_vocab_;    // the whole vocabulary
  Collective* group_;  // tensor parallel: this stage's ranks (null: whole tensors here)
  Collective* world_;  // pipeline: every rank (activations to the next stage, logits from the last)
  KvLayout layout_;
  AttendKernels attend_;  // the KV dtype's attention kernels
  ThreadPool* pool_;
  int64_t max_tokens_, max_pos_;
  MatmulScratch mm_scratch_;

  // Activations for one step of up to max_tokens rows.
  AlignedBuffer x_;      // [rows][n_embd] residual stream
  AlignedBuffer h_;      // [rows][n_embd] normed input / block output
  AlignedBuffer q_;      // [rows][n_head * head_dim_k]
  AlignedBuffer k_;      // [rows][n_head_kv * head_dim_k]
  AlignedBuffer v_;      // [rows][n_head_kv * head_dim_v]
  AlignedBuffer attn_;   // [rows][n_head * head_dim_v]
  AlignedBuffer gate_;   // [rows][n_ff]
  AlignedBuffer up_;     // [rows][n_ff]
  AlignedBuffer scratch_;  // per thread: scores [group][max_pos + block], the group's q in the key act type
  size_t scratch_stride_ = 0;
  std::vector<int32_t> pos_;   // [rows] position of each row
  std::vector<int32_t> seq_;   // [rows] index into seqs of each row
  // A step's attention tasks: first the decode rows, each with all its KV heads or (when there
  // are few rows) a share of them, then the prompts' rows by KV head, then row. See attention().
  struct AttnTask {
    int32_t row;
    int16_t head0, head1;  // KV heads [head0, head1)
    bool decode;
  };
  std::vector<AttnTask> attn_tasks_;
  std::vector<TokenId> tokens_;  // [rows]
  std::vector<float> logits_;  // [wanted rows][n_vocab]
  std::vector<float> part_;    // tensor parallel: [wanted rows][shard vocab], then [size][rows][max shard vocab]
  bool logits_to_rank0_ = false;
  std::vector<Shard> shards_;  // tensor parallel: every rank's slice (vocabulary rows of the logits)
};

}  // namespace tandem::model
