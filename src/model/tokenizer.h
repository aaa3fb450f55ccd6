// Tokenizers built from GGUF metadata (tokenizer.ggml.*), with llama.cpp's semantics:
//   "llama": SentencePiece BPE driven by token scores, byte fallback (<0xNN> tokens);
//   "gpt2":  byte-level BPE driven by merge ranks, pre-tokenized by the regex family named in
//            tokenizer.ggml.pre (llama-bpe / llama3, qwen2, smollm, gpt2, default).
// Special tokens (control / user-defined) are matched as whole strings when parse_special is set.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::gguf {
class File;
}

namespace tandem::model {

using TokenId = int32_t;

// GGUF tokenizer.ggml.token_type values.
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

class Tokenizer {
 public:
  // Throws InputError naming the key when metadata is missing or inconsistent, or the model
  // / pre-tokenizer kind is not supported.
  static Tokenizer from_gguf(const gguf::File& file);

  Tokenizer();
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // add_special: prepend BOS / append EOS as tokenizer.ggml.add_bos_token / add_eos_token say.
  // parse_special: text of control and user-defined tokens becomes those tokens.
  std::vector<TokenId> encode(std::string_view text, bool add_special = true,
                              bool parse_special = true) const;

  // The bytes a token stands for: byte-level / byte-fallback decoded, SentencePiece's U+2581
  // turned into a space. Control tokens give their text only when render_special is set.
  std::string piece(TokenId id, bool render_special = false) const;
  // Concatenated pieces (may end inside a UTF-8 sequence; see StreamDecoder for streaming).
  // SentencePiece: the leading space of the first piece after BOS is removed, as llama.cpp does.
  std::string decode(std::span<const TokenId> ids, bool render_special = false) const;

  int32_t n_vocab() const;
  std::string_view token_text(TokenId id) const;  // the vocabulary string as stored
  TokenType token_type(TokenId id) const;
  TokenId bos() const;  // -1 when the model has none
  TokenId eos() const;
  TokenId eot() const;  // end of turn (e.g. <|eot_id|>, <|im_end|>), -1 when none
  bool add_bos() const;
  bool add_eos() const;
  // End of generation: EOS, EOT, EOM and the other tokens llama.cpp treats as end-of-generation.
  bool is_eog(TokenId id) const;
  bool is_control(TokenId id) const;
  std::string_view model_kind() const;  // "llama" or "gpt2"
  std::string_view pre() const;         // pre-tokenizer name ("" for llama)

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Streaming detokenization: push ids one at a time, get back only complete UTF-8 text; bytes of
// a character split across tokens are held until it is complete. Invalid sequences come out as
// U+FFFD, never as broken bytes.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool render_special = false);
  std::string push(TokenId id);
  std::string flush();  // whatever is held, invalid bytes replaced by U+FFFD

 private:
  const Tokenizer* tok_;
  bool render_special_;
  bool first_ = true;
  std::string pending_;
};

}  // namespace tandem::model
