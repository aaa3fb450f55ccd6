// The sampler against distributions computed here by brute force, and stop strings.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "engine/sampler.h"

namespace tandem::engine {
namespace {

SamplingParams plain(float temp) {
  SamplingParams p;
  p.temperature = temp;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 1234;
  return p;
}

std::vector<float> random_logits(int n, uint32_t seed, float scale = 2.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> l(static_cast<size_t>(n));
  for (float& x : l) x = nd(rng);
  return l;
}

// The expected distribution, computed the slow obvious way: sort by logit, keep top-k, then
// the top-p prefix of the softmax, then the tokens with p >= min_p * p_max, then softmax at
// the temperature.
std::map<int, double> expected(const std::vector<float>& logits, const SamplingParams& p) {
  std::vector<int> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int(i);
  std::sort(ids.begin(), ids.end(), [&](int a, int b) { return logits[size_t(a)] > logits[size_t(b)]; });
  if (p.top_k > 0 && size_t(p.top_k) < ids.size()) ids.resize(size_t(p.top_k));
  auto probs = [&](double t) {
    std::vector<double> pr;
    double sum = 0;
    for (int i : ids) sum += std::exp(logits[size_t(i)] / t);
    for (int i : ids) pr.push_back(std::exp(logits[size_t(i)] / t) / sum);
    return pr;
  };
  if (p.top_p < 1.0f) {
    auto pr = probs(1.0);
    double cum = 0;
    size_t keep = ids.size();
    for (size_t i = 0; i < pr.size(); ++i) {
      cum += pr[i];
      if (cum >= p.top_p) { keep = i + 1; break; }
    }
    ids.resize(keep);
  }
  if (p.min_p > 0.0f) {
    auto pr = probs(1.0);
    std::vector<int> kept;
    for (size_t i = 0; i < ids.size(); ++i) if (pr[i] >= p.min_p * pr[0]) kept.push_back(ids[i]);
    ids = kept;
  }
  auto pr = probs(p.temperature);
  std::map<int, double> out;
  for (size_t i = 0; i < ids.size(); ++i) out[ids[i]] = pr[i];
  return out;
}

// Draws many samples and checks every token's frequency against the expectation (within 5
// standard deviations) and that no token outside the support is ever drawn.
void check_distribution(const std::vector<float>& logits, const SamplingParams& p) {
  const auto want = expected(logits, p);
  Sampler s(p, int32_t(logits.size()));
  const int n = 40000;
  std::map<int, int> got;
  for (int i = 0; i < n; ++i) got[s.sample(logits)]++;
  for (const auto& [id, count] : got) EXPECT_TRUE(want.count(id)) << "token " << id << " is outside the support";
  for (const auto& [id, prob] : want) {
    const double mean = prob * n, sd = std::sqrt(n * prob * (1 - prob)) + 1;
    EXPECT_NEAR(got[id], mean, 5 * sd) << "token " << id << " p=" << prob;
  }
}

TEST(Sampler, GreedyIsArgmaxLowestIdOnTies) {
  std::vector<float> l = {0.1f, 3.0f, -1.0f, 3.0f, 2.9f};
  Sampler s(plain(0.0f), 5);
  EXPECT_EQ(s.sample(l), 1);
  l[1] = -INFINITY;
  EXPECT_EQ(s.sample(l), 3);
}

TEST(Sampler, TopKOneIsGreedyAtAnyTemperature) {
  const auto l = random_logits(1000, 1);
  const int best = int(std::max_element(l.begin(), l.end()) - l.begin());
  SamplingParams p = plain(5.0f);
  p.top_k = 1;
  Sampler s(p, 1000);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(l), best);
}

TEST(Sampler, DistributionsMatchBruteForce) {
  const auto l = random_logits(40, 7, 1.5f);
  check_distribution(l, plain(1.0f));
  check_distribution(l, plain(0.6f));
  SamplingParams k = plain(1.3f);
  k.top_k = 5;
  check_distribution(l, k);
  SamplingParams tp = plain(1.0f);
  tp.top_p = 0.7f;
  check_distribution(l, tp);
  SamplingParams mp = plain(0.9f);
  mp.min_p = 0.1f;
  check_distribution(l, mp);
  SamplingParams all = plain(0.8f);  // llama.cpp's defaults
  all.top_k = 40;
  all.top_p = 0.95f;
  all.min_p = 0.05f;
  check_distribution(l, all);
}

// Top-k over a large vocabulary (the sampler's one-pass path) keeps exactly the candidates a
// full sort gives, in the same order: with the same seed it draws the same tokens as a sampler
// that sees only those k logits (all others -inf, so it sorts everything that is left). Ties
// at the k-th place (the lower id wins), NaN and -inf among the logits.
TEST(Sampler, TopKOfALargeVocabularyIsTheSortedTopK) {
  const int n = 50000;
  const auto base = random_logits(n, 11, 1.0f);
  auto sorted_ids = [&](const std::vector<float>& l) {
    std::vector<int> ids;
    for (int i = 0; i < n; ++i)
      if (std::isfinite(l[size_t(i)])) ids.push_back(i);
    std::sort(ids.begin(), ids.end(), [&](int a, int b) {
      return l[size_t(a)] > l[size_t(b)] || (l[size_t(a)] == l[size_t(b)] && a < b);
    });
    return ids;
  };
  for (int k : {1, 2, 40, 333}) {
    std::vector<float> l = base;
    for (int i = 5; i < n; i += 1013) l[size_t(i)] = NAN;
    for (int i = 9; i < n; i += 777) l[size_t(i)] = -INFINITY;
    // The (k+1)-th and (k+2)-th best take the k-th best's logit: a three-way tie at the edge.
    auto ids = sorted_ids(l);
    l[size_t(ids[size_t(k)])] = l[size_t(ids[size_t(k - 1)])];
    l[size_t(ids[size_t(k + 1)])] = l[size_t(ids[size_t(k - 1)])];
    ids = sorted_ids(l);
    std::vector<float> only(size_t(n), -INFINITY);
    for (int j = 0; j < k; ++j) only[size_t(ids[size_t(j)])] = l[size_t(ids[size_t(j)])];
    SamplingParams p = plain(1.5f);
    p.top_k = k;
    p.top_p = 0.9f;
    p.min_p = 0.01f;
    SamplingParams q = p;
    q.top_k = 0;
    Sampler fast(p, n), sorted(q, n);
    for (int i = 0; i < 300; ++i) ASSERT_EQ(fast.sample(l), sorted.sample(only)) << "k " << k << ", draw " << i;
  }
}

TEST(Sampler, SameSeedSameSequenceOtherSeedOther) {
  const auto l = random_logits(500, 3, 1.0f);
  auto run = [&](uint64_t seed) {
    SamplingParams p = plain(1.0f);
    p.seed = seed;
    Sampler s(p, 500);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.sample(l));
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(Sampler, PenaltiesChangeTheChoiceAsSpecified) {
  // Token 0 leads by 0.5; once seen, each penalty alone must hand the lead to token 1.
  const std::vector<float> l = {2.0f, 1.5f, -3.0f};
  auto greedy_after = [&](SamplingParams p, std::vector<int32_t> seen) {
    p.temperature = 0.0f;
    Sampler s(p, 3);
    for (int32_t t : seen) s.accept(t);
    return s.sample(l);
  };
  SamplingParams none = plain(0.0f);
  EXPECT_EQ(greedy_after(none, {0, 0}), 0);
  SamplingParams rep = none;
  rep.repeat_penalty = 1.5f;  // 2.0 / 1.5 = 1.33 < 1.5
  EXPECT_EQ(greedy_after(rep, {0}), 1);
  rep.repeat_penalty = 1.2f;  // 2.0 / 1.2 = 1.67 > 1.5
  EXPECT_EQ(greedy_after(rep, {0}), 0);
  SamplingParams freq = none;
  freq.frequency_penalty = 0.3f;  // 2.0 - 0.3 = 1.7: still 0; twice: 1.4 < 1.5
  EXPECT_EQ(greedy_after(freq, {0}), 0);
  EXPECT_EQ(greedy_after(freq, {0, 0}), 1);
  SamplingParams pres = none;
  pres.presence_penalty = 0.6f;  // once is enough, count does not matter
  EXPECT_EQ(greedy_after(pres, {0}), 1);
  // Negative logits are multiplied: a seen -3 becomes -4.5, never better.
  SamplingParams neg = rep;
  neg.repeat_penalty = 1.5f;
  EXPECT_EQ(greedy_after(neg, {2}), 0);
  // Only the last repeat_last_n tokens count.
  SamplingParams window = rep;
  window.repeat_penalty = 1.5f;
  window.repeat_last_n = 2;
  EXPECT_EQ(greedy_after(window, {0, 2, 2}), 0);
  EXPECT_EQ(greedy_after(window, {2, 0, 2}), 1);
}

TEST(Sampler, AllImpossibleIsAnError) {
  const std::vector<float> l = {-INFINITY, NAN};
  Sampler s(plain(1.0f), 2);
  EXPECT_THROW(s.sample(l), std::runtime_error);
}

TEST(StopMatcher, HoldsPossibleStartsAndCutsAtTheStop) {
  StopMatcher m({"</end>", "STOP"});
  std::string out;
  out += m.push("Hello <");
  EXPECT_EQ(out, "Hello ");  // "<" could start "</end>"
  out += m.push("/e");
  EXPECT_EQ(out, "Hello ");
  out += m.push("nd> and more");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(out, "Hello ");
  EXPECT_EQ(m.push("later"), "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, FalseStartsAreReleasedAndFlushed) {
  StopMatcher m({"STOP"});
  std::string out = m.push("ST");
  EXPECT_EQ(out, "");
  out += m.push("ART ST");
  EXPECT_EQ(out, "START ");
  EXPECT_FALSE(m.stopped());
  out += m.flush();
  EXPECT_EQ(out, "START ST");
}

TEST(StopMatcher, EarliestOfSeveralAndAtTheStart) {
  StopMatcher m({"bb", "a"});
  EXPECT_EQ(m.push("xbba"), "x");
  StopMatcher first({"x"});
  EXPECT_EQ(first.push("xyz"), "");
  EXPECT_TRUE(first.stopped());
  StopMatcher none({});
  EXPECT_EQ(none.push("anything"), "anything");
}

}  // namespace
}  // namespace tandem::engine
