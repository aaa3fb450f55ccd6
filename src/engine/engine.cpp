#include "engine/engine.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/log.h"
#include "engine/constraint.h"

namespace tandem::engine {

using clock = std::chrono::steady_clock;

struct Engine::Seq : SchedSeq {
  Seq(const model::Model& m, RequestOptions r)
      : req(std::move(r)),
        out(std::make_shared<RequestStream>()),
        sampler(req.sampling, static_cast<int32_t>(m.hparams().n_vocab)),
        decoder(m.tokenizer()),
        stops(req.stop),
        submitted(clock::now()) {}
  RequestOptions req;
  std::shared_ptr<RequestStream> out;
  Sampler sampler;
  model::StreamDecoder decoder;
  StopMatcher stops;
  clock::time_point submitted;
  int64_t n_prompt = 0, n_gen = 0;
  double ttft_s = 0;
  bool done = false;
  std::vector<std::byte*> block_ptrs;  // scratch: the table's blocks as addresses
  std::vector<float> masked;           // scratch: logits with the constraint applied
  std::vector<model::TokenId> ids_scratch;  // scratch: token ids, for the top log-probabilities
};

namespace {

int64_t pool_blocks(const EngineOptions& o, int64_t n_ctx, const model::KvLayout& layout) {
  if (o.parallel < 1) throw_input("--parallel {} must be at least 1", o.parallel);
  const int64_t bt = layout.block_tokens();
  const int64_t per_seq = (n_ctx + bt - 1) / bt;
  const int64_t n = o.kv_mem ? cache::BlockPool::blocks_for_bytes(o.kv_mem, layout.block_bytes())
                             : per_seq * o.parallel;
  if (n < per_seq)
    throw_input("--kv-mem {} bytes holds {} KV blocks of {} positions ({} bytes each); one context of {} "
                "positions needs {}: raise --kv-mem or lower -c",
                o.kv_mem, n, bt, layout.block_bytes(), n_ctx, per_seq);
  return n;
}

// What a KV block's contents depend on besides its tokens: the model file, the KV element type
// and the block size (cache/prefix_index.h).
uint64_t prefix_seed(const model::Model& m, DType kv_type, int64_t block_tokens) {
  const uint64_t parts[3] = {m.file().digest(), static_cast<uint64_t>(kv_type), static_cast<uint64_t>(block_tokens)};
  return XXH3_64bits(parts, sizeof(parts));
}

}  // namespace

Engine::Engine(const model::Model& model, const EngineOptions& opts)
    : model_(&model),
      opts_(opts),
      n_ctx_(model::resolve_n_ctx(model, opts.n_ctx)),
      layout_(model.local_hparams(), opts.kv_type, model::kKvBlockTokens),
      pool_(pool_blocks(opts, n_ctx_, layout_), layout_.block_bytes(), static_cast<int32_t>(layout_.block_tokens())),
      sched_(pool_, std::max<int64_t>(opts.batch_tokens, 1), opts.parallel, opts.prefill_chunk,
             prefix_seed(model, opts.kv_type, layout_.block_tokens())),
      forward_(model, layout_, std::max<int64_t>(opts.batch_tokens, 1), n_ctx_, opts.pool),
      group_(model.world()) {
  if (opts.batch_tokens < 1) throw_input("--batch-tokens {} must be at least 1", opts.batch_tokens);
  stats_.blocks_total = pool_.n_blocks();
  sched_.set_prefix_cache(opts.prefix_cache);
  if ((opts.kv_dram > 0 || !opts.kv_disk.empty()) && !opts.prefix_cache)
    throw_input("--kv-dram and --kv-disk keep prefixes for reuse: they need the prefix cache (drop --no-prefix-cache)");
  if (opts.kv_dram > 0 || !opts.kv_disk.empty()) {
    if (model.world() != nullptr)
      throw_input("--kv-dram and --kv-disk work in one process (not yet with --tp or --pp)");
    if (opts.kv_dram > 0) host_store_ = std::make_unique<cache::HostStore>(opts.kv_dram);
    if (!opts.kv_disk.empty())
      disk_store_ = std::make_unique<cache::DiskStore>(opts.kv_disk, opts.kv_disk_size,
                                                       prefix_seed(model, opts.kv_type, layout_.block_tokens()));
    sched_.set_tiers(host_store_.get(), disk_store_.get());
    if (disk_store_)
      disk_store_->on_fetched([this] {
        {
          std::lock_guard lock(mu_);
          fetched_ = true;
        }
        cv_.notify_all();
      });
  }
  if (group_ != nullptr) {
    TANDEM_CHECK(group_->rank() == 0, "the engine runs on rank 0; rank {} follows", group_->rank());
    pool_.record_copies(&copies_);
    depth_ = model.shard().n_stages;
    if (depth_ > 1) forward_.set_logits_to_rank0(true);
    send_config(*group_, {pool_.n_blocks(), layout_.block_tokens(), n_ctx_, std::max<int64_t>(opts.batch_tokens, 1),
                          opts.kv_type});
  }
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(mu_);
    accepting_ = false;
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (disk_store_) disk_store_->on_fetched(nullptr);  // before mu_ and cv_ go
}

std::unique_ptr<Engine::Seq> Engine::prepare(RequestOptions req) const {
  const int64_t n_prompt = static_cast<int64_t>(req.prompt.size());
  const int64_t n_vocab = model_->hparams().n_vocab;
  if (n_prompt == 0) throw_input("the prompt is empty: nothing to continue from");
  for (model::TokenId t : req.prompt)
    if (t < 0 || t >= n_vocab) throw_input("token id {} is outside the vocabulary of {}", t, n_vocab);
  if (n_prompt >= n_ctx_)
    throw_input("the prompt has {} tokens but the context holds {}: shorten it or raise -c", n_prompt, n_ctx_);
  if (req.max_tokens >= 0 && n_prompt + req.max_tokens > n_ctx_)
    throw_input("the prompt's {} tokens plus max_tokens {} exceed the context of {} tokens", n_prompt,
                req.max_tokens, n_ctx_);
  auto seq = std::make_unique<Seq>(*model_, std::move(req));
  seq->n_prompt = n_prompt;
  seq->tokens = seq->req.prompt;
  for (model::TokenId t : seq->tokens) seq->sampler.accept(t);
  return seq;
}

std::vector<std::shared_ptr<RequestStream>> Engine::enqueue(std::vector<std::unique_ptr<Seq>> seqs) {
  std::vector<std::shared_ptr<RequestStream>> out;
  {
    std::lock_guard lock(mu_);
    if (!accepting_) return out;
    if (stats_.waiting + static_cast<int64_t>(incoming_.size() + seqs.size()) > opts_.max_queue) return out;
    for (auto& seq : seqs) {
      seq->order = next_order_++;
      out.push_back(seq->out);
      in_flight_.push_back(seq->out);
      incoming_.push_back(std::move(seq));
    }
  }
  cv_.notify_all();
  return out;
}

std::shared_ptr<RequestStream> Engine::submit(RequestOptions req) {
  std::vector<std::unique_ptr<Seq>> one;
  one.push_back(prepare(std::move(req)));
  auto out = enqueue(std::move(one));
  return out.empty() ? nullptr : out.front();
}

std::vector<std::shared_ptr<RequestStream>> Engine::submit_all(std::vector<RequestOptions> reqs) {
  std::vector<std::unique_ptr<Seq>> seqs;
  for (size_t i = 0; i < reqs.size(); ++i) {
    try {
      seqs.push_back(prepare(std::move(reqs[i])));
    } catch (const InputError& e) {
      throw_input("request {} of {}: {}", i + 1, reqs.size(), e.what());
    }
  }
  return enqueue(std::move(seqs));
}

void Engine::shutdown(std::chrono::milliseconds grace) {
  const auto deadline = clock::now() + grace;
  std::unique_lock lock(mu_);
  accepting_ = false;
  cv_.wait_until(lock, deadline, [&] { return incoming_.empty() && stats_.waiting + stats_.running == 0; });
  cancel_all_ = true;
  cv_.notify_all();
  cv_.wait(lock, [&] { return incoming_.empty() && stats_.waiting + stats_.running == 0; });
}

void Engine::fail_all_unavailable(const std::string& why) {
  std::lock_guard lock(mu_);
  accepting_ = false;
  for (auto& out : in_flight_) out->fail_unavailable(why);
  in_flight_.clear();
}

EngineStats Engine::stats() const {
  std::lock_guard lock(mu_);
  EngineStats s = stats_;
  s.waiting += static_cast<int64_t>(incoming_.size());
  return s;
}

void Engine::loop() {
  bool group_failed = false;
  for (;;) {
    bool cancel_all = false;
    {
      std::unique_lock lock(mu_);
      const auto ready = [&] { return stop_ || cancel_all_ || !incoming_.empty() || !live_.empty(); };
      if (group_ == nullptr) {
        cv_.wait(lock, ready);
      } else if (!cv_.wait_for(lock, std::chrono::seconds(1), ready)) {
        // Idle: a heartbeat keeps the followers' wait for their next order short.
        lock.unlock();
        try {
          send_order(*group_, OrderKind::Heartbeat);
        } catch (const std::exception& e) {
          group_failed = true;
          fail_group(e.what());
          break;
        }
        continue;
      }
      for (auto& s : incoming_) {
        sched_.enqueue(s.get());
        live_.push_back(std::move(s));
      }
      incoming_.clear();
      fetched_ = false;
      if (stop_) cancel_all_ = true;
      cancel_all = cancel_all_;
    }
    for (auto& s : live_)
      if (!s->done && (s->out->cancelled() || cancel_all)) finish(*s, StopReason::Cancelled);
    std::erase_if(live_, [](const std::unique_ptr<Seq>& s) { return s->done && s->in_flight == 0; });

    std::vector<StepItem> items;
    bool stepped = false;
    try {
      if (depth_ == 1) {
        items = sched_.plan();
        if (!items.empty()) {
          stepped = true;
          launch(items);
        }
      } else {
        stepped = !flights_.empty() || !live_.empty();
        pipeline_round();
      }
    } catch (const std::exception& e) {
      log(LogLevel::Error, "engine step failed: {}", e.what());
      if (group_ != nullptr) {  // the ranks are out of step: no further step can be trusted
        group_failed = true;
        fail_group(e.what());
        break;
      }
      for (const StepItem& it : items) {
        Seq& s = static_cast<Seq&>(*it.seq);
        s.in_flight = 0;
        finish(s, StopReason::Cancelled, e.what());
      }
    }
    std::erase_if(live_, [](const std::unique_ptr<Seq>& s) { return s->done && s->in_flight == 0; });
    {
      std::lock_guard lock(mu_);
      stats_.waiting = static_cast<int64_t>(sched_.waiting().size());
      stats_.running = static_cast<int64_t>(sched_.running().size());
      stats_.blocks_used = pool_.used_blocks();
      stats_.preemptions = sched_.preemptions();
      stats_.shared_tokens = sched_.shared_tokens();
      stats_.lookup_tokens = sched_.lookup_tokens();
      stats_.blocks_cached = pool_.cached_blocks();
      stats_.tiers = sched_.tier_stats();
      if (host_store_) {
        stats_.host_blocks = static_cast<int64_t>(host_store_->size());
        stats_.host_bytes = static_cast<int64_t>(host_store_->bytes());
      }
      if (disk_store_) stats_.disk = disk_store_->stats();
      stats_.steps += stepped ? 1 : 0;
      std::erase_if(in_flight_, [](const std::shared_ptr<RequestStream>& o) { return o->ended(); });
      if (stop_ && live_.empty() && incoming_.empty()) break;
    }
    cv_.notify_all();  // shutdown() waits on the stats
    if (!stepped && sched_.loading()) {  // prompts wait for blocks from disk: sleep until some come
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return fetched_ || stop_ || cancel_all_ || !incoming_.empty(); });
    }
  }
  if (group_ != nullptr && !group_failed) {
    try {
      send_order(*group_, OrderKind::Stop);
    } catch (const std::exception& e) {
      log(LogLevel::Error, "could not stop the group's other ranks: {}", e.what());
    }
  }
  cv_.notify_all();
}

// Ends everything and stops the loop; the owner decides what happens to the process.
void Engine::fail_group(const std::string& what) {
  const std::string why = fmt::format("the group of processes running the model failed ({}); retry when it has been restarted", what);
  fail_all_unavailable(why);
  flights_.clear();
  for (auto& s : live_) {
    s->done = true;
    s->in_flight = 0;
  }
  {
    std::lock_guard lock(mu_);
    stats_.waiting = stats_.running = 0;
    incoming_.clear();
  }
  cv_.notify_all();
  if (opts_.on_group_failure) opts_.on_group_failure(what);
}

// Rank 0 of a group: tells the other ranks what this step is (group.h).
void Engine::order_step(const std::vector<StepItem>& items) {
  orders_.clear();
  for (const StepItem& it : items) {
    const Seq& s = static_cast<const Seq&>(*it.seq);
    const int64_t pos = s.table.n_tokens() - it.n;
    orders_.push_back({pos, std::span<const model::TokenId>(s.tokens).subspan(static_cast<size_t>(pos), static_cast<size_t>(it.n)),
                       s.table.blocks(), s.pending() == 0 ? model::Logits::Last : model::Logits::None});
  }
  send_order(*group_, OrderKind::Step, copies_, orders_);
  copies_.clear();
}

// Starts a step: orders it to the group, runs this rank's part of the forward pass. Without
// pipeline stages its logits are here at once and it completes now; otherwise it joins the
// steps in flight and completes when its logits come back from the last stage.
void Engine::launch(std::vector<StepItem>& items) {
  std::vector<model::SeqStep> steps;
  steps.reserve(items.size());
  Flight f;
  for (const StepItem& it : items) {
    Seq& s = static_cast<Seq&>(*it.seq);
    s.block_ptrs.clear();
    for (cache::BlockId b : s.table.blocks()) s.block_ptrs.push_back(pool_.data(b));
    const int64_t pos = s.table.n_tokens() - it.n;
    const bool wants = s.pending() == 0;
    steps.push_back({std::span<const model::TokenId>(s.tokens).subspan(static_cast<size_t>(pos), static_cast<size_t>(it.n)),
                     pos, s.block_ptrs, wants ? model::Logits::Last : model::Logits::None});
    f.wants.push_back(wants);
    f.ends.push_back(pos + it.n);
    f.n_out += wants ? 1 : 0;
    f.rows += it.n;
    ++s.in_flight;
  }
  f.items = std::move(items);
  f.t0 = clock::now();
  if (group_ != nullptr) order_step(f.items);
  const std::span<const float> logits = forward_.run(steps);
  if (depth_ == 1) {
    complete(f, logits);
    return;
  }
  flights_.push_back(std::move(f));
}

// Samples for every sequence of a step that wanted logits (and is still running).
void Engine::complete(Flight& f, std::span<const float> logits) {
  const auto t1 = clock::now();
  const auto n_vocab = static_cast<size_t>(model_->hparams().n_vocab);
  size_t row = 0;
  picks_.clear();
  for (size_t i = 0; i < f.items.size(); ++i) {
    Seq& s = static_cast<Seq&>(*f.items[i].seq);
    --s.in_flight;
    if (!s.done) sched_.computed(&s, f.ends[i]);  // its full blocks join the prefix index
    if (!f.wants[i]) continue;
    const std::span<const float> mine = logits.subspan(row++ * n_vocab, n_vocab);
    if (!s.done) picks_.push_back({&s, mine, 0});
  }
  // Each sequence samples with its own sampler, generator and constraint, so the step's
  // sequences sample across the thread pool (a JSON constraint probes every vocabulary entry);
  // their tokens then go out in order from this thread.
  forward_.pool().run(static_cast<int64_t>(picks_.size()), [&](int64_t i, int) {
    Pick& p = picks_[static_cast<size_t>(i)];
    p.id = sample(*p.seq, p.logits);
  });
  // Emitting wakes the requests' threads, then the next step is planned: serial work, during
  // which a spinning worker would only keep them from a core.
  forward_.pool().rest();
  for (const Pick& p : picks_) emit(*p.seq, p.id, p.logits);
  std::lock_guard lock(mu_);
  stats_.rows += f.rows;
  stats_.forward_s += std::chrono::duration<double>(t1 - f.t0).count();
  stats_.sample_s += std::chrono::duration<double>(clock::now() - t1).count();
}

// Pipeline stages: keeps up to depth_ steps in flight, each over its share of the sequences, so
// that every stage has work; then completes the oldest.
void Engine::pipeline_round() {
  const size_t active = std::min(sched_.running().size() + sched_.waiting().size(), static_cast<size_t>(opts_.parallel));
  const size_t share = std::max<size_t>(1, (active + static_cast<size_t>(depth_) - 1) / static_cast<size_t>(depth_));
  while (flights_.size() < static_cast<size_t>(depth_)) {
    std::vector<StepItem> items = sched_.plan(share);
    if (items.empty()) break;
    launch(items);
  }
  if (flights_.empty()) return;
  Flight f = std::move(flights_.front());
  flights_.pop_front();
  complete(f, forward_.receive_logits(f.n_out));
}

model::TokenId Engine::sample(Seq& s, std::span<const float> logits) {
  std::span<const float> for_sampling = logits;
  if (s.req.constraint) {
    s.masked.assign(logits.begin(), logits.end());
    int64_t budget = n_ctx_ - static_cast<int64_t>(s.tokens.size());
    if (s.req.max_tokens >= 0) budget = std::min(budget, s.req.max_tokens - s.n_gen);
    s.req.constraint->mask(model_->tokenizer(), s.masked, budget);
    for_sampling = s.masked;
  }
  return s.sampler.sample(for_sampling);
}

void Engine::emit(Seq& s, model::TokenId id, std::span<const float> logits) {
  const model::Tokenizer& tok = model_->tokenizer();
  s.sampler.accept(id);
  s.tokens.push_back(id);
  ++s.n_gen;
  if (s.n_gen == 1) s.ttft_s = std::chrono::duration<double>(clock::now() - s.submitted).count();

  const bool eog = !s.req.ignore_eos && tok.is_eog(id);
  if (eog) {
    finish(s, StopReason::EndOfGeneration);
    return;
  }
  if (s.req.constraint) s.req.constraint->accept(tok, id);
  Event e;
  e.token = id;
  if (s.req.top_logprobs >= 0) {
    // Log-probabilities of the model's distribution (before sampling settings).
    const float mx = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float l : logits) sum += std::exp(static_cast<double>(l - mx));
    const float lse = mx + static_cast<float>(std::log(sum));
    e.logprob = logits[static_cast<size_t>(id)] - lse;
    const auto n_top = static_cast<size_t>(std::min<int64_t>(s.req.top_logprobs, static_cast<int64_t>(logits.size())));
    std::vector<model::TokenId>& ids = s.ids_scratch;
    ids.resize(logits.size());
    std::iota(ids.begin(), ids.end(), model::TokenId{0});
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n_top), ids.end(),
                      [&](model::TokenId a, model::TokenId b) { return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)]; });
    for (size_t i = 0; i < n_top; ++i) e.top.push_back({ids[i], logits[static_cast<size_t>(ids[i])] - lse});
  }
  e.text = s.stops.push(s.decoder.push(id));
  s.out->push(std::move(e));
  if (s.stops.stopped()) finish(s, StopReason::StopString);
  else if (s.req.constraint && s.req.constraint->complete()) finish(s, StopReason::EndOfGeneration);
  else if (s.req.max_tokens >= 0 && s.n_gen >= s.req.max_tokens) finish(s, StopReason::MaxTokens);
  else if (static_cast<int64_t>(s.tokens.size()) >= n_ctx_) finish(s, StopReason::ContextFull);
}

void Engine::finish(Seq& s, StopReason reason, const std::string& error) {
  if (s.done) return;
  s.done = true;
  sched_.remove(&s);
  if (reason != StopReason::StopString && reason != StopReason::Cancelled && error.empty()) {
    std::string rest = s.stops.push(s.decoder.flush());
    if (!s.stops.stopped()) rest += s.stops.flush();
    if (!rest.empty()) {
      Event e;
      e.text = std::move(rest);
      s.out->push(std::move(e));
    }
  }
  Usage u;
  u.prompt_tokens = s.n_prompt;
  u.completion_tokens = s.n_gen;
  u.cached_tokens = std::max<int64_t>(0, s.cached_tokens);
  u.ttft_s = s.ttft_s;
  u.total_s = std::chrono::duration<double>(clock::now() - s.submitted).count();
  s.out->set_usage(u);
  Event e;
  e.final = true;
  e.reason = reason;
  e.error = error;
  s.out->push(std::move(e));
}

}  // namespace tandem::engine
