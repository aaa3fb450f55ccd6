// The serving engine on the bundled model: 32 concurrent greedy requests give exactly their
// sequential outputs (also when a small pool forces preemption and recomputation), cancellation
// frees blocks at once, and requests that can never run are refused with the numbers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/error.h"
#include "engine/engine.h"

namespace tandem::engine {
namespace {

using namespace std::chrono_literals;
const std::string kModel = TANDEM_SOURCE_DIR "/models/tandem-demo.gguf";

struct Result {
  std::vector<model::TokenId> tokens;
  std::string text;
  StopReason reason = StopReason::Cancelled;
  std::string error;
};

Result drain(RequestStream& s) {
  Result r;
  Event e;
  while (s.next(e, 60s)) {
    if (e.token >= 0) r.tokens.push_back(e.token);
    r.text += e.text;
    if (e.final) {
      r.reason = e.reason;
      r.error = e.error;
      return r;
    }
  }
  ADD_FAILURE() << "no final event within 60 s";
  return r;
}

// Stats are refreshed after each step; the last final event may come just before.
EngineStats settled(const Engine& eng) {
  for (int i = 0; i < 200 && eng.stats().running + eng.stats().waiting > 0; ++i) std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(20ms);
  return eng.stats();
}

RequestOptions greedy(std::vector<model::TokenId> prompt, int64_t max_tokens) {
  RequestOptions r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0;
  r.max_tokens = max_tokens;
  return r;
}

std::vector<std::vector<model::TokenId>> prompts(const model::Model& m, int n) {
  std::mt19937 rng(11);
  std::vector<std::vector<model::TokenId>> out;
  for (int i = 0; i < n; ++i) {
    std::vector<model::TokenId> p(static_cast<size_t>(3 + rng() % 90));
    for (auto& t : p) t = static_cast<model::TokenId>(rng() % static_cast<uint32_t>(m.hparams().n_vocab));
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<Result> run_all(Engine& eng, const std::vector<std::vector<model::TokenId>>& ps, int64_t max_tokens,
                            bool concurrent) {
  std::vector<Result> out(ps.size());
  if (!concurrent) {
    for (size_t i = 0; i < ps.size(); ++i) out[i] = drain(*eng.submit(greedy(ps[i], max_tokens)));
    return out;
  }
  // Queued together: the engine's first step sees them all, whatever the threads' timing.
  std::vector<RequestOptions> reqs;
  for (const auto& p : ps) reqs.push_back(greedy(p, max_tokens));
  const auto streams = eng.submit_all(std::move(reqs));
  EXPECT_EQ(streams.size(), ps.size());
  for (size_t i = 0; i < streams.size(); ++i) out[i] = drain(*streams[i]);
  return out;
}

// The prefix cache: questions over one document reuse the document's KV blocks (whole blocks of
// 32 positions) computed for earlier requests, and every answer is exactly the answer of an
// engine that computed everything (a fresh engine per request).
TEST(Engine, ReusedPrefixBlocksGiveTheSameGreedyOutputs) {
  auto model = model::Model::load(kModel);
  std::mt19937 rng(5);
  std::vector<model::TokenId> doc(100);
  for (auto& t : doc) t = static_cast<model::TokenId>(rng() % static_cast<uint32_t>(model->hparams().n_vocab));
  std::vector<std::vector<model::TokenId>> asks;
  for (int q = 0; q < 6; ++q) {
    std::vector<model::TokenId> p = doc;
    for (int i = 0; i < 3 + q; ++i) p.push_back(static_cast<model::TokenId>(rng() % 4000));
    asks.push_back(std::move(p));
  }
  std::vector<Result> fresh;
  for (const auto& p : asks) {
    Engine alone(*model, {.parallel = 1, .n_ctx = 256});
    fresh.push_back(drain(*alone.submit(greedy(p, 40))));
  }
  Engine eng(*model, {.parallel = 2, .n_ctx = 256});
  for (size_t i = 0; i < asks.size(); ++i) {
    auto stream = eng.submit(greedy(asks[i], 40));
    const Result r = drain(*stream);
    EXPECT_EQ(r.tokens, fresh[i].tokens) << "question " << i;
    EXPECT_EQ(stream->usage().cached_tokens, i == 0 ? 0 : 100)
        << "question " << i << ": the document: 3 whole blocks, and the start of the next one copied";
  }
  const EngineStats st = settled(eng);
  EXPECT_EQ(st.shared_tokens, 5 * 100);
  EXPECT_GT(st.blocks_cached, 0);
  // The same, concurrently, in a pool so small that sequences are preempted and cached blocks
  // evicted while others use them.
  const model::KvLayout layout(model->hparams(), DType::F16, model::kKvBlockTokens);
  Engine tight(*model, {.parallel = 6, .n_ctx = 256, .kv_mem = layout.block_bytes() * 8, .batch_tokens = 64});
  // (Queued together: one at a time, each might find the pool free of the others.)
  const auto together = run_all(tight, asks, 40, true);
  for (size_t i = 0; i < asks.size(); ++i) EXPECT_EQ(together[i].tokens, fresh[i].tokens) << "question " << i;
  const EngineStats ts = settled(tight);
  EXPECT_GT(ts.preemptions, 0);
  EXPECT_GT(ts.shared_tokens, 0);
}

// Partly filled blocks, as a chat uses them: each turn resends the conversation so far (the
// previous prompt and reply, then new tokens), continuing the last block of the previous turn
// in place, while other conversations share only the first tokens of those blocks and must not
// write into them. Every answer equals a fresh engine's.
TEST(Engine, ConversationsContinuingAndDivergingInPartialBlocksKeepTheirOutputs) {
  auto model = model::Model::load(kModel);
  std::mt19937 rng(9);
  auto some = [&](int n) {
    std::vector<model::TokenId> v(static_cast<size_t>(n));
    for (auto& t : v) t = static_cast<model::TokenId>(rng() % 4000);
    return v;
  };
  const std::vector<model::TokenId> head = some(1);
  std::vector<std::vector<model::TokenId>> convs = {head, head, head};
  Engine eng(*model, {.parallel = 1, .n_ctx = 256});
  int64_t cached = 0;
  for (int turn = 0; turn < 4; ++turn) {
    for (size_t c = 0; c < convs.size(); ++c) {
      const auto more = some(5 + static_cast<int>(c) * 7 + turn);
      convs[c].insert(convs[c].end(), more.begin(), more.end());
      Engine alone(*model, {.parallel = 1, .n_ctx = 256});
      const Result fresh = drain(*alone.submit(greedy(convs[c], 6)));
      auto stream = eng.submit(greedy(convs[c], 6));
      const Result r = drain(*stream);
      EXPECT_EQ(r.tokens, fresh.tokens) << "turn " << turn << ", conversation " << c;
      if (turn > 0) {
        EXPECT_GE(stream->usage().cached_tokens, static_cast<int64_t>(convs[c].size()) - static_cast<int64_t>(more.size()) - 1)
            << "turn " << turn << ", conversation " << c << ": all but the reply's last token and the new ones";
      }
      cached += stream->usage().cached_tokens;
      convs[c].insert(convs[c].end(), r.tokens.begin(), r.tokens.end());
    }
  }
  EXPECT_GT(cached, 0);
}

// The lower tiers: documents that do not fit the pool come back from host memory; a restarted
// engine finds them on disk; damaged files are recomputed. Every answer equals a fresh
// engine's.
TEST(Engine, LowerTiersGiveBackPrefixesThePoolEvictedAndSurviveARestart) {
  auto model = model::Model::load(kModel);
  const auto n_vocab = static_cast<uint32_t>(model->hparams().n_vocab);
  std::mt19937 rng(9);
  std::vector<std::vector<model::TokenId>> docs(4);
  for (auto& d : docs) {
    d.resize(100);  // 3 whole blocks and 4 tokens
    for (auto& t : d) t = static_cast<model::TokenId>(rng() % n_vocab);
  }
  std::vector<Result> fresh;
  for (const auto& d : docs) {
    Engine alone(*model, {.parallel = 1, .n_ctx = 256});
    fresh.push_back(drain(*alone.submit(greedy(d, 8))));
  }
  const model::KvLayout layout(model->hparams(), DType::F16, model::kKvBlockTokens);
  const auto dir = std::filesystem::temp_directory_path() / ("tandem-engine-tiers-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  EngineOptions o{.parallel = 1, .n_ctx = 256, .kv_mem = layout.block_bytes() * 8};
  o.kv_dram = layout.block_bytes() * 64;
  o.kv_disk = dir.string();
  {
    Engine eng(*model, o);
    for (int round = 0; round < 2; ++round)
      for (size_t i = 0; i < docs.size(); ++i) {
        auto stream = eng.submit(greedy(docs[i], 8));
        EXPECT_EQ(drain(*stream).tokens, fresh[i].tokens) << "round " << round << " doc " << i;
        if (round == 1) {
          EXPECT_EQ(stream->usage().cached_tokens, 96) << "doc " << i;
        }
      }
    const EngineStats st = settled(eng);
    EXPECT_GT(st.tiers.to_host, 0) << "8 pool blocks cannot keep 4 documents: some went to host memory";
    EXPECT_GT(st.tiers.host_hits, 0);
  }
  // A restart: a new engine, nothing in its pool or host memory, the same directory.
  o.kv_dram = 0;
  {
    Engine eng(*model, o);
    auto stream = eng.submit(greedy(docs[2], 8));
    EXPECT_EQ(drain(*stream).tokens, fresh[2].tokens);
    EXPECT_EQ(stream->usage().cached_tokens, 96);
    EXPECT_EQ(settled(eng).tiers.disk_hits, 3);
  }
  // Every file damaged: all recomputed, the same answers.
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x5a');
  }
  {
    Engine eng(*model, o);
    for (size_t i = 0; i < docs.size(); ++i) {
      auto stream = eng.submit(greedy(docs[i], 8));
      EXPECT_EQ(drain(*stream).tokens, fresh[i].tokens) << "doc " << i;
      EXPECT_EQ(stream->usage().cached_tokens, 0) << "doc " << i;
    }
    EXPECT_GT(settled(eng).disk.discarded, 0);
  }
  std::filesystem::remove_all(dir);
}

TEST(Engine, ThirtyTwoConcurrentGreedyRequestsEqualTheirSequentialOutputs) {
  auto model = model::Model::load(kModel);
  const auto ps = prompts(*model, 32);
  Engine alone(*model, {.parallel = 1, .n_ctx = 256});
  const auto want = run_all(alone, ps, 24, false);
  Engine eng(*model, {.parallel = 32, .n_ctx = 256, .batch_tokens = 128});
  // One at a time, as a server's clients arrive: each joins whatever batch is running.
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const auto& p : ps) streams.push_back(eng.submit(greedy(p, 24)));
  std::vector<Result> got;
  for (auto& st : streams) got.push_back(drain(*st));
  for (size_t i = 0; i < ps.size(); ++i) {
    EXPECT_EQ(got[i].tokens, want[i].tokens) << "request " << i;
    EXPECT_EQ(got[i].text, want[i].text) << "request " << i;
  }
  EXPECT_EQ(settled(eng).blocks_used, 0) << "every block back in the pool";
}

TEST(Engine, PreemptionRecomputesAndChangesNothing) {
  auto model = model::Model::load(kModel);
  const auto ps = prompts(*model, 12);
  Engine alone(*model, {.parallel = 1, .n_ctx = 256});
  const auto want = run_all(alone, ps, 40, false);
  // 10 blocks of 32 positions for 12 sequences of up to ~130 positions: they cannot all fit.
  const model::KvLayout layout(model->hparams(), DType::F16, model::kKvBlockTokens);
  Engine eng(*model, {.parallel = 12, .n_ctx = 256, .kv_mem = layout.block_bytes() * 10, .batch_tokens = 64});
  const auto got = run_all(eng, ps, 40, true);
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_EQ(got[i].tokens, want[i].tokens) << "request " << i;
  const EngineStats st = settled(eng);
  EXPECT_GT(st.preemptions, 0) << "the pool was meant to be too small";
  EXPECT_EQ(st.blocks_used, 0);
}

TEST(Engine, RequestsWithACommonPrefixShareItsBlocksAndKeepTheirOutputs) {
  auto model = model::Model::load(kModel);
  auto ps = prompts(*model, 8);
  std::vector<model::TokenId> common(70);  // a shared "system prompt": two whole blocks and some
  for (size_t i = 0; i < common.size(); ++i) common[i] = static_cast<model::TokenId>(100 + i);
  for (auto& p : ps) p.insert(p.begin(), common.begin(), common.end());
  Engine alone(*model, {.parallel = 1, .n_ctx = 512});
  const auto want = run_all(alone, ps, 16, false);
  Engine eng(*model, {.parallel = 9, .n_ctx = 512, .batch_tokens = 64});
  // A long request computes the prefix and keeps running while the others arrive.
  RequestOptions holder = greedy(common, 400);
  holder.ignore_eos = true;
  auto first = eng.submit(holder);
  Event e;
  ASSERT_TRUE(first->next(e, 60s));
  std::vector<std::shared_ptr<RequestStream>> rest;
  for (const auto& p : ps) rest.push_back(eng.submit(greedy(p, 16)));
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_EQ(drain(*rest[i]).tokens, want[i].tokens) << "request " << i;
  first->cancel();
  drain(*first);
  const EngineStats st = settled(eng);
  EXPECT_GE(st.shared_tokens, 8 * 64) << "each request shares the prefix's two whole blocks";
  EXPECT_EQ(st.blocks_used, 0);
}

TEST(Engine, CancelFreesBlocksAndEndsTheStream) {
  auto model = model::Model::load(kModel);
  Engine eng(*model, {.parallel = 2, .n_ctx = 512});
  auto s = eng.submit(greedy(prompts(*model, 1)[0], -1));
  s->cancel();
  const Result r = drain(*s);
  EXPECT_EQ(r.reason, StopReason::Cancelled);
  EXPECT_EQ(settled(eng).blocks_used, 0);
}

TEST(Engine, RequestsThatCannotRunAreRefusedWithTheNumbers) {
  auto model = model::Model::load(kModel);
  Engine eng(*model, {.parallel = 2, .n_ctx = 64});
  try {
    eng.submit(greedy(std::vector<model::TokenId>(40, 5), 30));
    FAIL() << "40 + 30 > 64 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("40"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("64"), std::string::npos) << e.what();
  }
  EXPECT_THROW(eng.submit(greedy({}, 4)), InputError);
  EXPECT_THROW(eng.submit(greedy({-1}, 4)), InputError);
  try {  // a batch is checked whole before any of it is queued
    eng.submit_all({greedy({1, 2, 3}, 4), greedy(std::vector<model::TokenId>(40, 5), 30)});
    FAIL() << "a batch with 40 + 30 > 64 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("request 2 of 2"), std::string::npos) << e.what();
  }
  EXPECT_EQ(eng.stats().waiting + eng.stats().running, 0) << "nothing of the refused batch queued";
  EXPECT_THROW(Engine(*model, {.parallel = 2, .n_ctx = 64, .kv_mem = 1000}), InputError);
}

TEST(Engine, ShutdownCancelsWhatOutlivesTheGrace) {
  auto model = model::Model::load(kModel);
  Engine eng(*model, {.parallel = 2, .n_ctx = 1024});
  auto s = eng.submit(greedy(prompts(*model, 1)[0], -1));
  RequestOptions r = greedy({1, 2, 3}, 4);
  r.ignore_eos = true;
  eng.shutdown(200ms);
  EXPECT_EQ(eng.submit(r), nullptr) << "no new requests after shutdown";
  const Result got = drain(*s);
  EXPECT_TRUE(got.reason == StopReason::Cancelled || got.reason == StopReason::EndOfGeneration);
}

}  // namespace
}  // namespace tandem::engine
