// Pre-tokenizers of byte-level BPE vocabularies: the regexes of the Hugging Face tokenizer
// files, written as hand-made matchers over Unicode classes (no regex engine: the alternation
// semantics — first alternative that matches at the current position — are spelled out).
//   gpt2    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   llama3  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
//           | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   qwen2   as llama3 with \p{N} (one digit at a time)
//   smollm  every digit alone, then gpt2
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::model {

enum class PreTokenizer { Gpt2, Llama3, Qwen2, SmolLM };

// tokenizer.ggml.pre -> the family; nullopt when not supported.
std::optional<PreTokenizer> pre_tokenizer_from_name(std::string_view name);
std::string pre_tokenizer_names();  // for error messages

// Splits text into pieces (views into text) that BPE then encodes one by one.
std::vector<std::string_view> pre_tokenize(std::string_view text, PreTokenizer kind);

}  // namespace tandem::model
