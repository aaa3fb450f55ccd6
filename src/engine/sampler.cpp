#include "engine/sampler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "core/error.h"

namespace tandem::engine {

Sampler::Sampler(const SamplingParams& params, int32_t n_vocab)
    : p_(params), n_vocab_(n_vocab) {
  if (n_vocab <= 0) throw_input("sampler: vocabulary of {} tokens", n_vocab);
  seed_ = p_.seed == SamplingParams::kRandomSeed
              ? static_cast<uint64_t>(std::chrono::high_resolution_clock::now().time_since_epoch().count())
              : p_.seed;
  rng_.seed(seed_);
  cand_.reserve(static_cast<size_t>(n_vocab));
  probs_.reserve(static_cast<size_t>(n_vocab));
}

void Sampler::reset() {
  history_.clear();
  rng_.seed(seed_);
}

void Sampler::accept(int32_t token) {
  if (p_.repeat_last_n <= 0) return;
  history_.push_back(token);
  while (static_cast<int32_t>(history_.size()) > p_.repeat_last_n) history_.pop_front();
}

// The k best of the finite logits, best first (logit descending, then id ascending), as a sort
// of all of them would give, in one pass: a heap keeps the k best seen so far, and a logit not
// above the worst of them is skipped with one comparison (NaN and -inf never pass it). A later
// id never wins a tie, so "above" is exact. False when fewer than k logits are finite.
bool Sampler::top_k_of(std::span<const float> logits, size_t k) {
  // Heap order by better ("less" is better): the front is the worst kept; sort_heap puts the
  // best first.
  cand_.clear();
  float worst = -std::numeric_limits<float>::infinity();
  for (int32_t i = 0; i < n_vocab_; ++i) {
    const float l = logits[static_cast<size_t>(i)];
    if (!(l > worst)) continue;
    cand_.push_back({i, l});
    std::push_heap(cand_.begin(), cand_.end(), better);
    if (cand_.size() > k) {
      std::pop_heap(cand_.begin(), cand_.end(), better);
      cand_.pop_back();
    }
    if (cand_.size() == k) worst = cand_.front().logit;
  }
  if (cand_.size() < k) return false;
  std::sort_heap(cand_.begin(), cand_.end(), better);
  return true;
}

int32_t Sampler::sample(std::span<const float> logits) {
  TANDEM_CHECK(static_cast<int64_t>(logits.size()) >= n_vocab_, "logits of {} for a vocabulary of {}",
               logits.size(), n_vocab_);
  // Penalties over the recent history (as llama.cpp: repetition divides positive logits and
  // multiplies negative ones; frequency and presence subtract).
  const bool penalize = !history_.empty() &&
                        (p_.repeat_penalty != 1.0f || p_.frequency_penalty != 0.0f || p_.presence_penalty != 0.0f);
  // Top-k without penalties, at a temperature: the k best straight from the logits (a large
  // vocabulary is not copied and partially sorted for 40 of its entries).
  if (!penalize && p_.temperature > 0.0f && p_.top_k > 0 && top_k_of(logits, static_cast<size_t>(p_.top_k)))
    return draw();

  cand_.clear();
  for (int32_t i = 0; i < n_vocab_; ++i) {
    const float l = logits[static_cast<size_t>(i)];
    if (!std::isnan(l) && l != -std::numeric_limits<float>::infinity()) cand_.push_back({i, l});
  }
  if (cand_.empty()) throw_runtime("sampler: every logit is -inf or NaN");

  if (penalize) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t t : history_) counts[t]++;
    // cand_ is in id order with gaps; look each penalized id up by binary search.
    for (const auto& [id, count] : counts) {
      auto it = std::lower_bound(cand_.begin(), cand_.end(), id, [](const Candidate& c, int32_t v) { return c.id < v; });
      if (it == cand_.end() || it->id != id) continue;
      float& l = it->logit;
      if (l <= 0) l *= p_.repeat_penalty;
      else l /= p_.repeat_penalty;
      l -= static_cast<float>(count) * p_.frequency_penalty + (count > 0 ? p_.presence_penalty : 0.0f);
    }
  }

  if (p_.temperature <= 0.0f) return std::min_element(cand_.begin(), cand_.end(), better)->id;

  // top-k: keep the k best, sorted.
  size_t n = cand_.size();
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < n) {
    n = static_cast<size_t>(p_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(n), cand_.end(), better);
    cand_.resize(n);
  } else {
    std::sort(cand_.begin(), cand_.end(), better);
  }
  return draw();
}

// top-p, min-p, temperature and the draw over cand_, sorted best first.
int32_t Sampler::draw() {
  // Softmax of what is left (sorted, so the first is the maximum).
  auto softmax = [&] {
    probs_.resize(cand_.size());
    const float mx = cand_[0].logit;
    double sum = 0.0;
    for (size_t i = 0; i < cand_.size(); ++i) {
      probs_[i] = std::exp(cand_[i].logit - mx);
      sum += probs_[i];
    }
    for (float& p : probs_) p = static_cast<float>(p / sum);
  };

  // top-p: the smallest prefix whose probability reaches p (at least one token).
  if (p_.top_p < 1.0f) {
    softmax();
    double cum = 0.0;
    size_t keep = cand_.size();
    for (size_t i = 0; i < cand_.size(); ++i) {
      cum += probs_[i];
      if (cum >= p_.top_p) {
        keep = i + 1;
        break;
      }
    }
    cand_.resize(keep);
  }
  // min-p: drop tokens whose probability is below min_p x the top one.
  if (p_.min_p > 0.0f) {
    const float cut = cand_[0].logit + std::log(p_.min_p);
    size_t keep = 1;
    while (keep < cand_.size() && cand_[keep].logit >= cut) ++keep;
    cand_.resize(keep);
  }
  // Temperature, then the draw.
  for (Candidate& c : cand_) c.logit /= p_.temperature;
  softmax();
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const double r = u(rng_);
  double cum = 0.0;
  for (size_t i = 0; i < cand_.size(); ++i) {
    cum += probs_[i];
    if (r < cum) return cand_[i].id;
  }
  return cand_.back().id;
}

// ---- stop strings ---------------------------------------------------------------------------

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (auto& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

std::string StopMatcher::push(std::string_view text) {
  if (stopped_) return {};
  held_ += text;
  // A complete stop string: emit what precedes the earliest one, drop the rest.
  size_t first = std::string::npos;
  for (const auto& s : stops_) first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  // Hold back the longest tail that is a prefix of some stop string.
  size_t hold = 0;
  for (const auto& s : stops_)
    for (size_t len = std::min(s.size() - 1, held_.size()); len > hold; --len)
      if (held_.compare(held_.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
  std::string out = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return out;
}

std::string StopMatcher::flush() {
  std::string out;
  if (!stopped_) out.swap(held_);
  held_.clear();
  return out;
}

}  // namespace tandem::engine
