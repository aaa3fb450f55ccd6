// A loaded model: the memory-mapped GGUF file, its hyper-parameters, bound weights, tokenizer
// and chat template. Immutable after load and shared by every Context that runs it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

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
  // Spread over groups of processes, this process binds and computes only its slice: its
  // stage's layers (pipeline) and its part of their tensors (tensor parallel; model/shard.h,
  // opts.shard is set from the groups), and the forward pass exchanges activations and partial
  // results through the groups, which must outlive the model.
  static std::unique_ptr<Model> load(const std::string& path, const BindOptions& opts = {},
                                     const Groups& groups = {});

  const gguf::File& file() const { return file_; }
  const HParams& hparams() const { return hp_; }
  // What this process computes with: its own heads and feed-forward width (= hparams() when
  // the model is whole). KV layouts and activation buffers are sized by it.
  const HParams& local_hparams() const { return local_hp_; }
  const Shard& shard() const { return shard_; }
  // Every rank of the job (null: this process holds the whole model).
  Collective* world() const { return groups_.world; }
  // The ranks splitting this stage's tensors (null: not tensor parallel).
  Collective* tensor_group() const { return groups_.tensor; }
  const Groups& groups() const { return groups_; }
  // Pipeline: every stage's first layer, then n_layer (empty without stages).
  const std::vector<int64_t>& stage_starts() const { return stage_starts_; }
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
  Groups groups_;
  std::vector<int64_t> stage_starts_;
  ModelWeights weights_;
  Tokenizer tokenizer_;
  std::optional<ChatTemplate> chat_template_;  // always set after load
  bool own_chat_template_ = false;
};

}  // namespace tandem::model
