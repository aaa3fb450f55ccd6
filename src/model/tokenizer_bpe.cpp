// Byte-level BPE ("gpt2" vocabularies): the pre-tokenizer cuts the text into pieces; each
// piece's bytes are mapped to GPT-2's printable code points and merged pairwise by merge rank
// (lowest rank first, leftmost on ties) until no ranked pair is left; the symbols are then
// vocabulary entries.
#include <climits>

#include "model/tokenizer_impl.h"
#include "model/unicode.h"

namespace tandem::model {

uint32_t byte_to_cp(uint8_t b) {
  // Printable Latin-1 bytes stand for themselves; the other 68 go to U+0100.. in byte order.
  if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE)) return b;
  uint32_t n = 0;
  for (int x = 0; x < b; ++x)
    if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE))) ++n;
  return 0x100 + n;
}

int cp_to_byte(uint32_t cp) {
  static const auto table = [] {
    std::unordered_map<uint32_t, int> m;
    for (int b = 0; b < 256; ++b) m[byte_to_cp(static_cast<uint8_t>(b))] = b;
    return m;
  }();
  auto it = table.find(cp);
  return it == table.end() ? -1 : it->second;
}

void Tokenizer::Impl::encode_bpe(std::string_view text, std::vector<TokenId>& out) const {
  static const auto mapped = [] {
    std::vector<std::string> m(256);
    for (int b = 0; b < 256; ++b) unicode::append_utf8(m[static_cast<size_t>(b)], byte_to_cp(static_cast<uint8_t>(b)));
    return m;
  }();
  std::vector<std::string> sym;
  std::string key;
  for (std::string_view piece : pre_tokenize(text, pre)) {
    std::string word;
    sym.clear();
    for (unsigned char c : piece) {
      word += mapped[c];
      sym.push_back(mapped[c]);
    }
    if (ignore_merges) {
      if (const TokenId id = find(word); id >= 0) {
        out.push_back(id);
        continue;
      }
    }
    // Merge the lowest-ranked adjacent pair until none is ranked.
    for (;;) {
      int best = INT_MAX;
      size_t at = 0;
      for (size_t i = 0; i + 1 < sym.size(); ++i) {
        key.assign(sym[i]).append(" ").append(sym[i + 1]);
        auto it = merge_rank.find(key);
        if (it != merge_rank.end() && it->second < best) {
          best = it->second;
          at = i;
        }
      }
      if (best == INT_MAX) break;
      sym[at] += sym[at + 1];
      sym.erase(sym.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    }
    for (const std::string& s : sym) {
      if (const TokenId id = find(s); id >= 0) {
        out.push_back(id);
        continue;
      }
      // Not an entry (a vocabulary without some merge result): one token per byte if it can.
      for (size_t i = 0; i < s.size();) {
        size_t len;
        const uint32_t cp = unicode::decode(s, i, &len);
        std::string one;
        unicode::append_utf8(one, cp);
        if (const TokenId id = find(one); id >= 0) out.push_back(id);
        else if (unk >= 0) out.push_back(unk);
        i += len;
      }
    }
  }
}

}  // namespace tandem::model
