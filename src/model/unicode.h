// The bits of Unicode the tokenizers need: UTF-8 decoding that never fails (an invalid byte is
// one "code point" of its own), and the classes the pre-tokenizer regexes use, from generated
// range tables (scripts/gen-unicode-tables).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tandem::model::unicode {

enum Flag : uint8_t { kLetter = 1, kNumber = 2, kSpace = 4 };

struct CodepointRange {
  uint32_t first, last;
  uint8_t flags;
};
extern const CodepointRange kRanges[];
extern const size_t kRangeCount;
extern const char kUnicodeVersion[];

uint8_t flags(uint32_t cp);
inline bool is_letter(uint32_t cp) { return flags(cp) & kLetter; }
inline bool is_number(uint32_t cp) { return flags(cp) & kNumber; }
inline bool is_space(uint32_t cp) { return flags(cp) & kSpace; }

// Length in bytes of the UTF-8 sequence starting at s[i] (1 for an invalid or truncated one).
size_t utf8_len(std::string_view s, size_t i);
// The code point at s[i] (an invalid byte decodes as 0xFFFFFFFF, which has no class).
uint32_t decode(std::string_view s, size_t i, size_t* len);
void append_utf8(std::string& out, uint32_t cp);

// Lower case of a code point for the case-insensitive contractions ('S -> 's): ASCII only,
// which is all the regexes need.
inline uint32_t ascii_lower(uint32_t cp) { return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp; }

// How many bytes at the end of s form an incomplete (but so far valid) UTF-8 sequence.
size_t incomplete_tail(std::string_view s);

}  // namespace tandem::model::unicode
