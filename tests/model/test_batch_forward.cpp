// BatchForward: sequences stepped together over scattered KV blocks give exactly the logits each
// gets alone in a Context (rows do not influence each other), whatever the chunking; and the
// q8_0 KV cache stays close to f16.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "core/buffer.h"
#include "model/batch_forward.h"
#include "model/context.h"
#include "model/model.h"

namespace tandem::model {
namespace {

const std::string kModel = TANDEM_SOURCE_DIR "/models/tandem-demo.gguf";

std::vector<TokenId> random_tokens(int n, int n_vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<TokenId> t(static_cast<size_t>(n));
  for (auto& id : t) id = static_cast<TokenId>(rng() % static_cast<uint32_t>(n_vocab));
  return t;
}

int argmax(std::span<const float> x) {
  return static_cast<int>(std::max_element(x.begin(), x.end()) - x.begin());
}

// The logits a sequence gets alone: after its prompt, then after each greedy token.
std::vector<std::vector<float>> alone(const Model& m, const std::vector<TokenId>& prompt, int steps,
                                      DType kv) {
  Context ctx(m, {.n_ctx = 256, .n_batch = 64, .kv_type = kv});
  std::vector<std::vector<float>> out;
  auto logits = ctx.eval(prompt);
  out.emplace_back(logits.begin(), logits.end());
  for (int s = 0; s < steps; ++s) {
    const TokenId next = argmax(out.back());
    logits = ctx.eval({&next, 1});
    out.emplace_back(logits.begin(), logits.end());
  }
  return out;
}

TEST(BatchForward, SequencesInOneBatchGetTheirAloneLogitsBitForBit) {
  auto model = Model::load(kModel);
  const HParams& hp = model->hparams();
  const int n_vocab = static_cast<int>(hp.n_vocab), steps = 6;
  const std::vector<int> lengths = {5, 40, 1, 77};  // 77 > one chunk of 32: prefill in pieces
  std::vector<std::vector<TokenId>> prompts;
  std::vector<std::vector<std::vector<float>>> want;
  for (size_t s = 0; s < lengths.size(); ++s) {
    prompts.push_back(random_tokens(lengths[s], n_vocab, 100 + static_cast<uint32_t>(s)));
    want.push_back(alone(*model, prompts.back(), steps, DType::F16));
  }

  // A shared pool of blocks handed out in a scrambled order, so no sequence's blocks are adjacent.
  const KvLayout layout(hp, DType::F16, kKvBlockTokens);
  const int blocks_per_seq = 4, n_blocks = blocks_per_seq * static_cast<int>(lengths.size());
  AlignedBuffer pool(layout.block_bytes() * n_blocks);
  std::vector<int> order(static_cast<size_t>(n_blocks));
  for (int i = 0; i < n_blocks; ++i) order[static_cast<size_t>(i)] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  std::vector<std::vector<std::byte*>> blocks(lengths.size());
  for (int i = 0; i < n_blocks; ++i)
    blocks[static_cast<size_t>(i % lengths.size())].push_back(
        pool.data() + static_cast<size_t>(order[static_cast<size_t>(i)]) * layout.block_bytes());

  BatchForward fwd(*model, layout, 48, 256);
  // Each step: every sequence still in its prompt sends a chunk of up to 32 tokens (staggered
  // starts: sequence s joins at step s), every sequence past its prompt sends its greedy token.
  struct State {
    int64_t pos = 0;
    std::vector<TokenId> pending;  // the tokens to send next
    int produced = 0;              // logits rows received
    bool started = false;
  };
  std::vector<State> st(lengths.size());
  int budget_left = 1000;
  for (int step = 0; budget_left-- > 0; ++step) {
    std::vector<SeqStep> batch;
    std::vector<size_t> who;
    int64_t tokens = 0;
    for (size_t s = 0; s < st.size(); ++s) {
      State& q = st[s];
      if (static_cast<int>(s) > step || q.produced > steps) continue;
      if (!q.started) {
        q.pending = prompts[s];
        q.started = true;
      }
      const int64_t take = std::min<int64_t>({static_cast<int64_t>(q.pending.size()), 32, 48 - tokens});
      if (take <= 0) continue;
      const bool last = take == static_cast<int64_t>(q.pending.size());
      batch.push_back({std::span<const TokenId>(q.pending.data(), static_cast<size_t>(take)), q.pos,
                       blocks[s], last ? Logits::Last : Logits::None});
      who.push_back(s);
      tokens += take;
    }
    if (batch.empty()) break;
    const auto logits = fwd.run(batch);
    size_t row = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      State& q = st[who[i]];
      const auto take = static_cast<int64_t>(batch[i].tokens.size());
      q.pos += take;
      const bool last = batch[i].logits == Logits::Last;
      q.pending.erase(q.pending.begin(), q.pending.begin() + take);
      if (!last) continue;
      const std::span<const float> got = logits.subspan(row++ * static_cast<size_t>(n_vocab), static_cast<size_t>(n_vocab));
      const auto& expect = want[who[i]][static_cast<size_t>(q.produced)];
      ASSERT_TRUE(std::equal(got.begin(), got.end(), expect.begin()))
          << "sequence " << who[i] << " output " << q.produced << " differs from running alone";
      ++q.produced;
      q.pending = {static_cast<TokenId>(argmax(got))};
    }
  }
  for (size_t s = 0; s < st.size(); ++s) EXPECT_EQ(st[s].produced, steps + 1) << "sequence " << s;
}

TEST(BatchForward, Q8_0KvCacheStaysCloseToF16) {
  auto model = Model::load(kModel);
  const auto prompt = random_tokens(60, static_cast<int>(model->hparams().n_vocab), 3);
  const auto f16 = alone(*model, prompt, 4, DType::F16);
  const auto q8 = alone(*model, prompt, 4, DType::Q8_0);
  Context c8(*model, {.n_ctx = 64, .kv_type = DType::Q8_0});
  Context c16(*model, {.n_ctx = 64});
  EXPECT_LT(c8.kv_bytes() * 100, c16.kv_bytes() * 54) << "q8_0 should take ~34/64 of f16";
  for (size_t i = 0; i < f16.size(); ++i) {
    double d = 0, scale = 0;
    for (size_t j = 0; j < f16[i].size(); ++j) {
      d = std::max(d, double(std::abs(f16[i][j] - q8[i][j])));
      scale = std::max(scale, double(std::abs(f16[i][j])));
    }
    EXPECT_LT(d / scale, 0.05) << "step " << i;
    EXPECT_GT(d, 0.0) << "q8_0 KV should not be bit-identical to f16 (is it used at all?)";
  }
}

}  // namespace
}  // namespace tandem::model
