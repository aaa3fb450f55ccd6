// The serving engine: one model, one pool of KV blocks, many requests. submit() queues a
// request and returns its stream; one engine thread loops: plan a step (scheduler.h), run it
// through BatchForward, sample for every sequence whose pending tokens are all computed, stream
// the text, finish and free what is done. Requests are independent: a request's greedy output
// is the same alone or among 32 others (rows of a batch do not influence each other).
//
// With a model spread over a group the engine runs on rank 0 and orders every step to the other
// ranks, which run engine::follow() (group.h). With pipeline stages it keeps one step per stage
// in flight, each over its share of the sequences: while the last stage finishes one step, the
// first is already computing the next (a sequence sits out while its token is being computed).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_pool.h"
#include "engine/group.h"
#include "engine/request.h"
#include "engine/scheduler.h"
#include "model/batch_forward.h"
#include "model/context.h"
#include "model/model.h"

namespace tandem::engine {

struct EngineOptions {
  int parallel = 4;          // sequences running at once
  int64_t n_ctx = 0;         // positions per sequence; 0: the model's training context, at most 4096
  size_t kv_mem = 0;         // bytes of the block pool; 0: n_ctx x parallel positions
  int64_t batch_tokens = 256;  // tokens per step, all sequences together
  int64_t prefill_chunk = 64;  // prompt tokens per step while other sequences decode
  DType kv_type = DType::F16;
  int max_queue = 256;       // waiting requests beyond which submit() refuses
  bool prefix_cache = true;  // reuse computed KV blocks across requests (cache/prefix_index.h)
  size_t kv_dram = 0;        // bytes of host memory for evicted KV blocks (tier 1); 0: none
  std::string kv_disk = {};  // directory of the disk tier (tier 2); empty: none
  size_t kv_disk_size = size_t{8} << 30;  // cap of the disk tier
  ThreadPool* pool = nullptr;
  // A model spread over a group (model.world()): called once, on the engine thread, when a step
  // fails (a rank died or is unreachable), after every request in flight ended with 503.
  std::function<void(const std::string& what)> on_group_failure = nullptr;
};

struct EngineStats {
  int64_t waiting = 0, running = 0;
  int64_t blocks_total = 0, blocks_used = 0;
  int64_t preemptions = 0, steps = 0;
  int64_t shared_tokens = 0;  // prompt tokens whose KV blocks came from the prefix index, not computed
  int64_t lookup_tokens = 0;  // prompt tokens looked up in the prefix index (at each admission)
  int64_t blocks_cached = 0;  // blocks no sequence holds, kept for their prefix
  Scheduler::TierStats tiers;  // lower tiers: hits and moves
  int64_t host_blocks = 0, host_bytes = 0;
  cache::DiskStats disk;
  int64_t rows = 0;                          // tokens through the forward pass, all steps
  double forward_s = 0, sample_s = 0;        // time in the forward pass / sampling and streaming
};

class Engine {
 public:
  Engine(const model::Model& model, const EngineOptions& opts);
  ~Engine();  // cancels whatever is left and joins the engine thread
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request. InputError when it cannot ever run (empty prompt, a token outside the
  // vocabulary, prompt + max_tokens beyond the context: the message names the numbers).
  // Returns null when the queue is full or the engine is shutting down.
  std::shared_ptr<RequestStream> submit(RequestOptions req);
  // Queues several requests at once, as an offline batch: the engine first sees them together,
  // in this order. All are checked before any is queued (the InputError names the request);
  // returns no streams when the queue cannot take them all or the engine is shutting down.
  std::vector<std::shared_ptr<RequestStream>> submit_all(std::vector<RequestOptions> reqs);

  // Stops accepting requests; waits up to `grace` for those in flight, then cancels the rest
  // and waits for them to end.
  void shutdown(std::chrono::milliseconds grace);

  // Ends every request in flight at once with a 503 error naming `why` and stops accepting
  // (the group failed, or is being ended by its launcher). Any thread.
  void fail_all_unavailable(const std::string& why);

  EngineStats stats() const;
  int64_t n_ctx() const { return n_ctx_; }
  const model::Model& model() const { return *model_; }
  int64_t block_tokens() const { return layout_.block_tokens(); }
  size_t kv_pool_bytes() const { return static_cast<size_t>(pool_.n_blocks()) * pool_.block_bytes(); }

 private:
  struct Seq;
  void loop();
  std::unique_ptr<Seq> prepare(RequestOptions req) const;  // checks a request (InputError)
  std::vector<std::shared_ptr<RequestStream>> enqueue(std::vector<std::unique_ptr<Seq>> seqs);
  // A step started and not yet sampled (pipeline stages keep several in flight).
  struct Flight {
    std::vector<StepItem> items;
    std::vector<uint8_t> wants;  // per item: its last token's logits are wanted
    std::vector<int64_t> ends;   // per item: the position after its last token
    int64_t n_out = 0, rows = 0;
    std::chrono::steady_clock::time_point t0;
  };
  void launch(std::vector<StepItem>& items);
  void complete(Flight& f, std::span<const float> logits);
  void pipeline_round();
  void finish(Seq& s, StopReason reason, const std::string& error = {});
  model::TokenId sample(Seq& s, std::span<const float> logits);  // touches only s: any thread
  void emit(Seq& s, model::TokenId id, std::span<const float> logits);
  void order_step(const std::vector<StepItem>& items);
  void fail_group(const std::string& what);

  const model::Model* model_;
  EngineOptions opts_;
  int64_t n_ctx_;
  model::KvLayout layout_;
  std::unique_ptr<cache::HostStore> host_store_;  // tiers 1 and 2 (before sched_: they outlive it)
  std::unique_ptr<cache::DiskStore> disk_store_;
  cache::BlockPool pool_;
  Scheduler sched_;
  model::BatchForward forward_;
  Collective* group_;                     // null: the whole model in this process
  std::vector<cache::BlockCopy> copies_;  // group: the pool's copies since the last order
  std::vector<OrderSeq> orders_;          // group: scratch
  int depth_ = 1;                         // steps in flight at most: the pipeline's stages
  std::deque<Flight> flights_;            // oldest first
  struct Pick {                           // a sequence to sample this step, and its token
    Seq* seq;
    std::span<const float> logits;
    model::TokenId id;
  };
  std::vector<Pick> picks_;  // scratch of complete()

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Seq>> incoming_;  // submitted, not yet seen by the loop
  std::vector<std::unique_ptr<Seq>> live_;      // owned by the loop
  std::vector<std::shared_ptr<RequestStream>> in_flight_;  // every stream not yet ended
  uint64_t next_order_ = 0;
  bool accepting_ = true;
  bool stop_ = false;
  bool cancel_all_ = false;  // shutdown: cancel everything in flight
  bool fetched_ = false;     // the disk store sent blocks back since the loop last looked
  EngineStats stats_;  // refreshed by the loop each step
  std::thread thread_;
};

}  // namespace tandem::engine
