#include "model/model.h"

#include <fmt/format.h>

#include <malloc.h>

#include <cstdio>
#include <map>

#include "core/error.h"

namespace tandem::model {

namespace {

// Pipeline stages by the bytes of their weights (what a decode step reads).
std::vector<int64_t> stage_layers(const gguf::File& f, const HParams& hp, int stages) {
  std::vector<double> cost(static_cast<size_t>(hp.n_layer), 0.0);
  double output = 0;
  for (const gguf::TensorInfo& t : f.tensors()) {
    long long l = -1;
    if (std::sscanf(t.name.c_str(), "blk.%lld.", &l) == 1 && l >= 0 && l < hp.n_layer)
      cost[static_cast<size_t>(l)] += static_cast<double>(t.nbytes);
    else if (t.name == (hp.tied_output ? "token_embd.weight" : "output.weight"))
      output = static_cast<double>(t.nbytes);
  }
  return split_layers(cost, output, stages);
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& path, const BindOptions& opts, const Groups& groups) {
  std::unique_ptr<Model> m(new Model(gguf::File::open(path)));
  const Metadata meta(m->file_);
  m->hp_ = read_hparams(meta);
  BindOptions bind = opts;
  const int tp = groups.tp();
  if (tp > 1) bind.shard = make_shard(m->hp_, groups.tensor->rank(), tp);
  if (groups.pp > 1) {
    TANDEM_CHECK(groups.world != nullptr && groups.world->size() == tp * groups.pp, "{} ranks for tp {} x pp {}",
                 groups.world ? groups.world->size() : 1, tp, groups.pp);
    if (tp == 1) bind.shard = make_shard(m->hp_, 0, 1);
    m->stage_starts_ = stage_layers(m->file_, m->hp_, groups.pp);
    set_stage(bind.shard, m->stage_starts_, groups.stage());
  }
  m->shard_ = bind.shard;
  m->groups_ = bind.shard.whole() ? Groups{} : groups;
  if (tp == 1) m->groups_.tensor = nullptr;
  m->local_hp_ = bind.shard.whole() ? m->hp_ : model::local_hparams(m->hp_, bind.shard);
  // The tokenizer first: its temporary tables come and go before the weights take memory, so
  // they do not add to the peak.
  m->tokenizer_ = Tokenizer::from_gguf(m->file_);
  if (m->tokenizer_.n_vocab() > m->hp_.n_vocab)
    throw_input("{}: the tokenizer has {} tokens but token_embd.weight only {} rows", path,
                m->tokenizer_.n_vocab(), m->hp_.n_vocab);
  m->chat_template_ = ChatTemplate::from_gguf(m->file_);
  m->weights_ = bind_weights(m->file_, m->hp_, declare_tensors(m->hp_), bind);
  ::malloc_trim(0);  // give back what parsing and binding freed: a rank's memory is the weights
  m->own_chat_template_ = m->chat_template_.has_value();
  if (!m->own_chat_template_) {
    const Tokenizer& tok = m->tokenizer_;
    m->chat_template_ = ChatTemplate::chatml(std::string(tok.bos() >= 0 ? tok.token_text(tok.bos()) : ""),
                                             std::string(tok.eos() >= 0 ? tok.token_text(tok.eos()) : ""));
  }
  return m;
}

size_t Model::weight_bytes() const {
  size_t n = weights_.mapped_bytes;
  for (const auto& b : weights_.owned) n += b.size();
  return n;
}

int64_t Model::n_params() const {
  int64_t n = 0;
  for (const auto& t : file_.tensors()) n += t.nelements();
  return n;
}

std::string Model::describe() const {
  std::map<std::string, int> types;
  for (const auto& t : file_.tensors()) types[std::string(dtype_name(t.type))]++;
  std::string ts;
  for (const auto& [name, count] : types) ts += fmt::format("{}{} {}", ts.empty() ? "" : ", ", count, name);
  const double p = static_cast<double>(n_params());
  return fmt::format("{}{}: {:.1f}M parameters, {} layers, {:.1f} MiB ({})", hp_.arch,
                     hp_.name.empty() ? "" : " '" + hp_.name + "'", p / 1e6,
                     hp_.n_layer, static_cast<double>(file_.file_size()) / (1 << 20), ts);
}

}  // namespace tandem::model
