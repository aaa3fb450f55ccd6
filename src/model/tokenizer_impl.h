// Internals of the tokenizer shared by tokenizer.cpp (vocabulary, special tokens, decoding)
// and the two encoders (tokenizer_spm.cpp, tokenizer_bpe.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/pretokenize.h"
#include "model/tokenizer.h"

namespace tandem::model {

struct Tokenizer::Impl {
  enum class Kind { Spm, Bpe } kind = Kind::Spm;
  std::string model_name, pre_name;
  PreTokenizer pre = PreTokenizer::Gpt2;

  std::vector<std::string> text;     // [n_vocab] token strings as stored
  std::vector<float> score;          // [n_vocab]
  std::vector<TokenType> type;       // [n_vocab]
  std::unordered_map<std::string, TokenId> by_text;
  std::unordered_map<std::string, int32_t> merge_rank;  // "left right" -> rank (BPE)
  std::vector<TokenId> specials;     // control / user-defined / unknown, longest text first
  std::vector<TokenId> eog;          // end-of-generation ids
  TokenId byte_token[256];           // SPM: <0xNN> ids (-1 when missing)

  TokenId bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1;
  bool add_bos = false, add_eos = false, add_space_prefix = false;
  bool ignore_merges = false;  // llama3: a pre-token that is a whole vocabulary entry is kept

  TokenId find(std::string_view s) const {
    auto it = by_text.find(std::string(s));
    return it == by_text.end() ? -1 : it->second;
  }
  void encode_spm(std::string_view text, std::vector<TokenId>& out) const;
  void encode_bpe(std::string_view text, std::vector<TokenId>& out) const;
};

// GPT-2's reversible byte <-> printable code point mapping used by byte-level BPE vocabularies.
uint32_t byte_to_cp(uint8_t b);
int cp_to_byte(uint32_t cp);  // -1 when cp is not one of the 256

}  // namespace tandem::model
