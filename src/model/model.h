// A loaded model: the memory-mapped GGUF file, its hyper-parameters, bound weights, tokenizer
// and chat template. Immutable after load and shared by every Context that runs it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/collective.h"
#include "gguf/file.h"
#include "model/chat_template.h"
#include "model/hparams.h"
#include "model/tokenizer.h"
#include "model/weights.h"

namespace tandem::model {

class Model {
 public:
  // Opens, validates and binds `path`. InputError for a missing or malformed file, an
  // unsupported architecture or tensor type, a missing tensor or a bad shape.
  // With a group of more than one process, this process binds and computes only its tensor-
  // parallel slice (model/shard.h; opts.shard is set from the group) and the forward pass
  // exchanges partial results through the group, which must outlive the model.
  static std::unique_ptr<Model> load(const std::string& path, const BindOptions& opts = {},
                                     Collective* group = nullptr);

  const gguf::File& file() const { return file_; }
  const HParams& hparams() const { return hp_; }
  // What this process computes with: its own heads and feed-forward width (= hparams() when
  // the model is whole). KV layouts and activation buffers are sized by it.
  const HParams& local_hparams() const { return local_hp_; }
  const Shard& shard() const { return shard_; }
  Collective* group() const { return shard_.whole() ? nullptr : group_; }
  const ModelWeights& weights() const { return weights_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  // The file's tokenizer.chat_template, or ChatML when it has none (as llama.cpp falls back).
  const ChatTemplate& chat_template() const { return *chat_template_; }
  bool has_own_chat_template() const { return own_chat_template_; }
  // Bytes of weights read per token (the mapped matrices plus converted copies).
  size_t weight_bytes() const;
  int64_t n_params() const;
  std::string describe() const;  // one line: arch, name, size, types

 private:
  explicit Model(gguf::File file) : file_(std::move(file)) {}
  gguf::File file_;
  HParams hp_, local_hp_;
  Shard shard_;
  Collective* group_ = nullptr;
  ModelWeights weights_;
  Tokenizer tokenizer_;
  std::optional<ChatTemplate> chat_template_;  // always set after load
  bool own_chat_template_ = false;
};

}  // namespace tandem::model
