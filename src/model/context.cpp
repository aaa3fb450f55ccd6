#include "model/context.h"

#include <algorithm>

#include "core/error.h"

namespace tandem::model {

int64_t resolve_n_ctx(const Model& model, int64_t n_ctx) {
  if (n_ctx < 0) throw_input("context size {} is negative", n_ctx);
  return n_ctx > 0 ? n_ctx : std::min<int64_t>(model.hparams().n_ctx_train, 4096);
}

Context::Context(const Model& model, const ContextParams& p)
    : model_(&model),
      n_ctx_(resolve_n_ctx(model, p.n_ctx)),
      n_batch_(std::clamp<int64_t>(p.n_batch, 1, std::max<int64_t>(n_ctx_, 1))),
      layout_(model.local_hparams(), p.kv_type, kKvBlockTokens),
      forward_(model, layout_, n_batch_, n_ctx_, p.pool) {
  const int64_t n_blocks = (n_ctx_ + kKvBlockTokens - 1) / kKvBlockTokens;
  kv_ = AlignedBuffer(layout_.block_bytes() * static_cast<size_t>(n_blocks));
  for (int64_t b = 0; b < n_blocks; ++b)
    blocks_.push_back(kv_.data() + static_cast<size_t>(b) * layout_.block_bytes());
}

void Context::truncate(int64_t n) {
  TANDEM_CHECK(n >= 0 && n <= n_past_, "truncate to {} of {} positions", n, n_past_);
  n_past_ = n;
}

std::span<const float> Context::eval(std::span<const TokenId> tokens, bool all_logits) {
  const auto n = static_cast<int64_t>(tokens.size());
  const int64_t n_vocab = model_->hparams().n_vocab;
  if (n == 0) throw_input("nothing to evaluate: no tokens");
  if (n_past_ + n > n_ctx_)
    throw_input("{} tokens after {} already in the context do not fit its {} positions (raise -c)",
                n, n_past_, n_ctx_);
  for (int64_t i = 0; i < n; ++i)
    if (tokens[static_cast<size_t>(i)] < 0 || tokens[static_cast<size_t>(i)] >= n_vocab)
      throw_input("token id {} at position {} is outside the vocabulary of {}",
                  tokens[static_cast<size_t>(i)], n_past_ + i, n_vocab);
  logits_.resize(static_cast<size_t>((all_logits ? n : 1) * n_vocab));
  for (int64_t done = 0; done < n;) {
    const int64_t chunk = std::min(n_batch_, n - done);
    const bool last = done + chunk == n;
    const SeqStep step{tokens.subspan(static_cast<size_t>(done), static_cast<size_t>(chunk)), n_past_,
                       blocks_, all_logits ? Logits::All : last ? Logits::Last : Logits::None};
    const std::span<const float> out = forward_.run({&step, 1});
    if (!out.empty())
      std::copy(out.begin(), out.end(), logits_.begin() + (all_logits ? done * n_vocab : 0));
    n_past_ += chunk;
    done += chunk;
  }
  return logits_;
}

}  // namespace tandem::model
