#include "model/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "core/error.h"
#include "gguf/file.h"
#include "model/metadata.h"
#include "model/tokenizer_impl.h"
#include "model/unicode.h"

namespace tandem::model {
namespace {

const char kSpmSpace[] = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

// Token texts llama.cpp also treats as end of generation when the file does not say.
const char* const kEogTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                 "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>"};

const gguf::Array& string_array(const Metadata& m, const char* key, bool required) {
  static const gguf::Array empty{gguf::ValueType::String, {}};
  const gguf::Value* v = m.file().find(key);
  if (!v) {
    if (required) m.fail(key, "missing (required for the tokenizer)");
    return empty;
  }
  const gguf::Array* a = v->as_array();
  if (!a || a->type != gguf::ValueType::String) m.fail(key, "expected an array of strings");
  return *a;
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Tokenizer Tokenizer::from_gguf(const gguf::File& file) {
  const Metadata m(file);
  auto impl = std::make_unique<Impl>();
  Impl& t = *impl;
  t.model_name = m.get_string("tokenizer.ggml.model");
  if (t.model_name == "llama") {
    t.kind = Impl::Kind::Spm;
  } else if (t.model_name == "gpt2") {
    t.kind = Impl::Kind::Bpe;
  } else {
    m.fail("tokenizer.ggml.model", fmt::format("tokenizer '{}' is not supported (llama, gpt2)", t.model_name));
  }

  const gguf::Array& tokens = string_array(m, "tokenizer.ggml.tokens", true);
  const size_t n = tokens.items.size();
  if (n == 0) m.fail("tokenizer.ggml.tokens", "the vocabulary is empty");
  t.text.reserve(n);
  t.by_text.reserve(n);
  for (const auto& v : tokens.items) {
    t.text.push_back(*v.as_string());
    t.by_text.emplace(t.text.back(), static_cast<TokenId>(t.text.size() - 1));  // first wins
  }
  t.score.assign(n, 0.0f);
  if (const gguf::Value* v = file.find("tokenizer.ggml.scores")) {
    const gguf::Array* a = v->as_array();
    if (!a || a->items.size() != n) m.fail("tokenizer.ggml.scores", fmt::format("expected {} numbers", n));
    for (size_t i = 0; i < n; ++i) {
      auto d = a->items[i].as_number();
      if (!d) m.fail("tokenizer.ggml.scores", "expected numbers");
      t.score[i] = static_cast<float>(*d);
    }
  }
  t.type.assign(n, TokenType::Normal);
  if (const gguf::Value* v = file.find("tokenizer.ggml.token_type")) {
    const gguf::Array* a = v->as_array();
    if (!a || a->items.size() != n) m.fail("tokenizer.ggml.token_type", fmt::format("expected {} integers", n));
    for (size_t i = 0; i < n; ++i) {
      auto x = a->items[i].as_int();
      if (!x || *x < 0 || *x > 6) m.fail("tokenizer.ggml.token_type", fmt::format("entry {} is not a token type 0..6", i));
      t.type[i] = static_cast<TokenType>(*x);
    }
  }

  auto id_key = [&](const char* key, TokenId fallback) -> TokenId {
    auto v = m.find_int(key);
    if (!v) return fallback;
    if (*v < 0 || *v >= static_cast<int64_t>(n))
      m.fail(key, fmt::format("token id {} is outside the vocabulary of {}", *v, n));
    return static_cast<TokenId>(*v);
  };
  auto text_id = [&](const char* s) { return t.find(s); };

  if (t.kind == Impl::Kind::Spm) {
    t.bos = id_key("tokenizer.ggml.bos_token_id", n > 1 ? 1 : -1);
    t.eos = id_key("tokenizer.ggml.eos_token_id", n > 2 ? 2 : -1);
    t.unk = id_key("tokenizer.ggml.unknown_token_id", 0);
    t.add_bos = true;
    t.add_space_prefix = true;
    std::fill(std::begin(t.byte_token), std::end(t.byte_token), -1);
    for (int b = 0; b < 256; ++b) t.byte_token[b] = t.find(fmt::format("<0x{:02X}>", b));
  } else {
    t.pre_name = m.find_string("tokenizer.ggml.pre").value_or("default");
    auto pre = pre_tokenizer_from_name(t.pre_name);
    if (!pre)
      m.fail("tokenizer.ggml.pre", fmt::format("pre-tokenizer '{}' is not supported ({})", t.pre_name,
                                               pre_tokenizer_names()));
    t.pre = *pre;
    t.ignore_merges = t.pre == PreTokenizer::Llama3;
    t.add_bos = t.pre == PreTokenizer::Llama3;
    t.bos = id_key("tokenizer.ggml.bos_token_id", -1);
    t.eos = id_key("tokenizer.ggml.eos_token_id", -1);
    t.unk = id_key("tokenizer.ggml.unknown_token_id", -1);
    const gguf::Array& merges = string_array(m, "tokenizer.ggml.merges", true);
    t.merge_rank.reserve(merges.items.size());
    for (size_t i = 0; i < merges.items.size(); ++i) {
      const std::string& s = *merges.items[i].as_string();
      if (s.find(' ', 1) == std::string::npos)
        m.fail("tokenizer.ggml.merges", fmt::format("entry {} '{}' is not two symbols separated by a space", i, s));
      t.merge_rank.emplace(s, static_cast<int32_t>(i));
    }
  }
  t.pad = id_key("tokenizer.ggml.padding_token_id", -1);
  t.eot = id_key("tokenizer.ggml.eot_token_id", -1);
  t.eom = id_key("tokenizer.ggml.eom_token_id", -1);
  if (auto v = m.find_bool("tokenizer.ggml.add_bos_token")) t.add_bos = *v;
  if (auto v = m.find_bool("tokenizer.ggml.add_eos_token")) t.add_eos = *v;
  if (auto v = m.find_bool("tokenizer.ggml.add_space_prefix")) t.add_space_prefix = *v;
  if (t.add_bos && t.bos < 0) m.fail("tokenizer.ggml.add_bos_token", "is set but the vocabulary has no BOS token");
  if (t.add_eos && t.eos < 0) m.fail("tokenizer.ggml.add_eos_token", "is set but the vocabulary has no EOS token");

  // End of turn / generation, as llama.cpp guesses them from the token texts.
  if (t.eot < 0)
    for (const char* s : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<EOT>", "_<EOT>"})
      if (TokenId id = text_id(s); id >= 0) {
        t.eot = id;
        break;
      }
  for (TokenId id : {t.eos, t.eot, t.eom})
    if (id >= 0) t.eog.push_back(id);
  for (const char* s : kEogTexts)
    if (TokenId id = text_id(s); id >= 0 && (t.type[static_cast<size_t>(id)] == TokenType::Control ||
                                            t.type[static_cast<size_t>(id)] == TokenType::UserDefined))
      t.eog.push_back(id);

  // Special tokens, matched as whole strings before normal tokenization: longest first.
  for (size_t i = 0; i < n; ++i) {
    const TokenType ty = t.type[i];
    if ((ty == TokenType::Control || ty == TokenType::UserDefined || ty == TokenType::Unknown) && !t.text[i].empty())
      t.specials.push_back(static_cast<TokenId>(i));
  }
  std::stable_sort(t.specials.begin(), t.specials.end(), [&](TokenId a, TokenId b) {
    return t.text[static_cast<size_t>(a)].size() > t.text[static_cast<size_t>(b)].size();
  });

  Tokenizer tok;
  tok.impl_ = std::move(impl);
  return tok;
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Impl& t = *impl_;
  std::vector<TokenId> out;
  if (add_special && t.add_bos) out.push_back(t.bos);
  // Cut the text at special tokens: user-defined ones always, control ones when asked.
  bool prev_special = true;  // SentencePiece: a space prefix at the start and after specials
  auto encode_raw = [&](std::string_view raw) {
    if (raw.empty()) return;
    if (t.kind == Impl::Kind::Spm) {
      std::string s;
      if (t.add_space_prefix && prev_special) s = " ";
      s += raw;
      std::string escaped;
      for (char c : s) {
        if (c == ' ') escaped += kSpmSpace;
        else escaped += c;
      }
      t.encode_spm(escaped, out);
    } else {
      t.encode_bpe(raw, out);
    }
    prev_special = false;
  };
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    TokenId hit = -1;
    for (TokenId id : t.specials) {
      const std::string& s = t.text[static_cast<size_t>(id)];
      const TokenType ty = t.type[static_cast<size_t>(id)];
      if (!parse_special && ty != TokenType::UserDefined) continue;
      if (text.compare(i, s.size(), s) == 0) {
        hit = id;
        break;
      }
    }
    if (hit < 0) {
      ++i;
      continue;
    }
    encode_raw(text.substr(start, i - start));
    out.push_back(hit);
    prev_special = true;
    i += t.text[static_cast<size_t>(hit)].size();
    start = i;
  }
  encode_raw(text.substr(start));
  if (add_special && t.add_eos) out.push_back(t.eos);
  return out;
}

std::string Tokenizer::piece(TokenId id, bool render_special) const {
  const Impl& t = *impl_;
  if (id < 0 || id >= n_vocab()) return {};
  const std::string& s = t.text[static_cast<size_t>(id)];
  const TokenType ty = t.type[static_cast<size_t>(id)];
  if (ty == TokenType::Control || ty == TokenType::Unknown || ty == TokenType::Unused)
    return render_special ? s : std::string();
  if (ty == TokenType::UserDefined) return s;
  if (t.kind == Impl::Kind::Spm) {
    unsigned byte = 0;
    if (ty == TokenType::Byte && s.size() == 6 && s.starts_with("<0x") && s[5] == '>' &&
        std::from_chars(s.data() + 3, s.data() + 5, byte, 16).ptr == s.data() + 5)
      return std::string(1, static_cast<char>(byte));
    std::string out;
    for (size_t i = 0; i < s.size();) {
      if (s.compare(i, 3, kSpmSpace) == 0) {
        out += ' ';
        i += 3;
      } else {
        out += s[i++];
      }
    }
    return out;
  }
  // Byte-level: every code point of the entry stands for one byte.
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    const uint32_t cp = unicode::decode(s, i, &len);
    const int b = cp_to_byte(cp);
    if (b >= 0) out += static_cast<char>(b);
    else out.append(s, i, len);
    i += len;
  }
  return out;
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool render_special) const {
  std::string out;
  bool first = true;
  for (TokenId id : ids) {
    std::string p = piece(id, render_special);
    if (first && !p.empty()) {
      if (impl_->kind == Impl::Kind::Spm && impl_->add_space_prefix && p[0] == ' ') p.erase(0, 1);
      first = false;
    }
    out += p;
  }
  return out;
}

int32_t Tokenizer::n_vocab() const { return impl_ ? static_cast<int32_t>(impl_->text.size()) : 0; }
std::string_view Tokenizer::token_text(TokenId id) const { return impl_->text.at(static_cast<size_t>(id)); }
TokenType Tokenizer::token_type(TokenId id) const { return impl_->type.at(static_cast<size_t>(id)); }
TokenId Tokenizer::bos() const { return impl_->bos; }
TokenId Tokenizer::eos() const { return impl_->eos; }
TokenId Tokenizer::eot() const { return impl_->eot; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }
bool Tokenizer::is_eog(TokenId id) const {
  return std::find(impl_->eog.begin(), impl_->eog.end(), id) != impl_->eog.end();
}
bool Tokenizer::is_control(TokenId id) const {
  return id >= 0 && id < n_vocab() && impl_->type[static_cast<size_t>(id)] == TokenType::Control;
}
std::string_view Tokenizer::model_kind() const { return impl_->model_name; }
std::string_view Tokenizer::pre() const { return impl_->pre_name; }

// ---- streaming ------------------------------------------------------------------------------

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool render_special)
    : tok_(&tok), render_special_(render_special) {}

namespace {

// Replaces invalid UTF-8 in s by U+FFFD.
std::string sanitize(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    const uint32_t cp = unicode::decode(s, i, &len);
    if (cp == 0xFFFFFFFFu) out += "\xEF\xBF\xBD";
    else out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace

std::string StreamDecoder::push(TokenId id) {
  pending_ += tok_->piece(id, render_special_);
  first_ = false;
  const size_t hold = unicode::incomplete_tail(pending_);
  std::string out = sanitize(std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = sanitize(pending_);
  pending_.clear();
  return out;
}

}  // namespace tandem::model
