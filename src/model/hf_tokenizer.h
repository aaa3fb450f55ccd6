// Hugging Face tokenizer files -> GGUF tokenizer metadata, the way llama.cpp's converter
// (convert_hf_to_gguf.py) writes it: tokenizer.ggml.model ("llama" for SentencePiece-BPE
// tokenizer.json files with byte fallback, "gpt2" for byte-level BPE), .pre (detected from the
// pre-tokenizer), .tokens, .scores, .token_type, .merges, BOS/EOS/UNK/PAD ids,
// add_bos_token / add_eos_token, and tokenizer.chat_template from tokenizer_config.json.
#pragma once

#include <cstdint>
#include <filesystem>

namespace tandem::gguf {
class Writer;
}

namespace tandem::model {

// dir holds tokenizer.json and (optionally) tokenizer_config.json / config.json. n_vocab, when
// larger than the tokenizer, pads the vocabulary with unused [PADn] tokens up to the embedding
// table's rows, as llama.cpp's converter does (llama.cpp requires the two to agree).
// Throws InputError naming the file and field when something is missing or unsupported.
void add_hf_tokenizer(const std::filesystem::path& dir, gguf::Writer& out, int64_t n_vocab = 0);

}  // namespace tandem::model
