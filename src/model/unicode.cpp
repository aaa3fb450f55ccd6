#include "model/unicode.h"

#include <algorithm>

namespace tandem::model::unicode {

uint8_t flags(uint32_t cp) {
  if (cp < 0x80) {  // fast path: ASCII
    if ((cp | 32) >= 'a' && (cp | 32) <= 'z') return kLetter;
    if (cp >= '0' && cp <= '9') return kNumber;
    if (cp == ' ' || (cp >= 9 && cp <= 13)) return kSpace;
    return 0;
  }
  const CodepointRange* end = kRanges + kRangeCount;
  const CodepointRange* it =
      std::upper_bound(kRanges, end, cp, [](uint32_t v, const CodepointRange& r) { return v < r.first; });
  if (it == kRanges) return 0;
  --it;
  return cp <= it->last ? it->flags : 0;
}

uint32_t decode(std::string_view s, size_t i, size_t* len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](size_t k) { return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80; };
  auto bad = [&] {
    *len = 1;
    return 0xFFFFFFFFu;
  };
  if (b0 < 0x80) {
    *len = 1;
    return b0;
  }
  uint32_t cp;
  size_t n;
  if ((b0 & 0xE0) == 0xC0) { cp = b0 & 0x1F; n = 2; }
  else if ((b0 & 0xF0) == 0xE0) { cp = b0 & 0x0F; n = 3; }
  else if ((b0 & 0xF8) == 0xF0) { cp = b0 & 0x07; n = 4; }
  else return bad();
  for (size_t k = 1; k < n; ++k) {
    if (!cont(k)) return bad();
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid.
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return bad();
  *len = n;
  return cp;
}

size_t utf8_len(std::string_view s, size_t i) {
  size_t len;
  decode(s, i, &len);
  return len;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

size_t incomplete_tail(std::string_view s) {
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
  for (size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    const auto b = static_cast<unsigned char>(s[s.size() - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation: keep looking for the lead
    size_t need = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

}  // namespace tandem::model::unicode
