// SentencePiece BPE ("llama" vocabularies) as llama.cpp runs it: the text is split into UTF-8
// characters; adjacent pairs whose concatenation is a vocabulary entry are merged, highest
// score first (leftmost on ties). A merge only ever makes a vocabulary entry, so what is left
// unmerged and unknown is a single character, which falls back to its <0xNN> byte tokens.
#include <queue>

#include "model/tokenizer_impl.h"
#include "model/unicode.h"

namespace tandem::model {
namespace {

struct Symbol {
  int prev, next;
  size_t off, len;  // bytes of the text
};

struct Bigram {
  int left, right;
  float score;
  size_t len;
  bool operator<(const Bigram& o) const {  // priority_queue: the "largest" pops first
    return score < o.score || (score == o.score && left > o.left);
  }
};

}  // namespace

void Tokenizer::Impl::encode_spm(std::string_view text, std::vector<TokenId>& out) const {
  std::vector<Symbol> sym;
  for (size_t i = 0; i < text.size();) {
    const size_t len = std::min(unicode::utf8_len(text, i), text.size() - i);
    sym.push_back({static_cast<int>(sym.size()) - 1, static_cast<int>(sym.size()) + 1, i, len});
    i += len;
  }
  if (sym.empty()) return;
  sym.back().next = -1;

  std::priority_queue<Bigram> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string_view s = text.substr(sym[static_cast<size_t>(left)].off,
                                           sym[static_cast<size_t>(left)].len + sym[static_cast<size_t>(right)].len);
    const TokenId id = find(s);
    if (id < 0) return;
    queue.push({left, right, score[static_cast<size_t>(id)], s.size()});
  };
  for (int i = 1; i < static_cast<int>(sym.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[static_cast<size_t>(b.left)];
    Symbol& r = sym[static_cast<size_t>(b.right)];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;  // stale
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[static_cast<size_t>(r.next)].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  // A symbol that is not an entry was never merged (merges only make entries), so it is a
  // single character: byte fallback is all that is left for it.
  for (int i = 0; i != -1; i = sym[static_cast<size_t>(i)].next) {
    const Symbol& s = sym[static_cast<size_t>(i)];
    const std::string_view piece = text.substr(s.off, s.len);
    if (const TokenId id = find(piece); id >= 0) {
      out.push_back(id);
      continue;
    }
    for (unsigned char c : piece) {
      const TokenId id = byte_token[c];
      if (id >= 0) out.push_back(id);
      else if (unk >= 0) out.push_back(unk);
    }
  }
}

}  // namespace tandem::model
