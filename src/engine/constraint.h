// Constrained decoding: a filter on the tokens a request may sample next, so that its output
// always has a required form (JSON mode, a JSON schema). The engine masks the logits of every
// token the constraint rejects before sampling, and tells it each token chosen.
#pragma once

#include <span>

#include "model/tokenizer.h"

namespace tandem::engine {

class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Sets the logit of every token that may not come next to -inf (end-of-generation tokens
  // included until the output is complete). budget: tokens the request may still generate,
  // this one included; a constraint keeps enough of them to finish its document.
  virtual void mask(const model::Tokenizer& tok, std::span<float> logits, int64_t budget) = 0;
  virtual void accept(const model::Tokenizer& tok, model::TokenId id) = 0;
  // The output so far is a complete document: the engine ends the request here.
  virtual bool complete() const = 0;
};

}  // namespace tandem::engine
