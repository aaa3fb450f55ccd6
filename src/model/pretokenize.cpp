#include "model/pretokenize.h"

#include "model/unicode.h"

namespace tandem::model {
namespace {

using namespace unicode;

// The text as code points with their byte offsets, so matchers can look ahead cheaply.
struct Cps {
  std::vector<uint32_t> cp;
  std::vector<size_t> off;  // off[i] = byte offset of cp[i]; off[size] = text size
  explicit Cps(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
      size_t len;
      cp.push_back(decode(s, i, &len));
      off.push_back(i);
      i += len;
    }
    off.push_back(s.size());
  }
  size_t size() const { return cp.size(); }
};

bool letter(uint32_t c) { return is_letter(c); }
bool number(uint32_t c) { return is_number(c); }
bool space(uint32_t c) { return is_space(c); }
bool other(uint32_t c) { return !(flags(c) & (kLetter | kNumber | kSpace)); }
bool newline(uint32_t c) { return c == '\r' || c == '\n'; }

template <typename Pred>
size_t run(const Cps& t, size_t i, Pred p) {
  size_t j = i;
  while (j < t.size() && p(t.cp[j])) ++j;
  return j - i;
}

// 's 't 're 've 'm 'll 'd at i (case-insensitive when ci); length in code points or 0.
size_t contraction(const Cps& t, size_t i, bool ci) {
  if (t.cp[i] != '\'' || i + 1 >= t.size()) return 0;
  auto c = [&](size_t k) { return k < t.size() ? (ci ? ascii_lower(t.cp[k]) : t.cp[k]) : 0u; };
  const uint32_t a = c(i + 1), b = c(i + 2);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// \s+(?!\S) then \s+ at i (t.cp[i] is white space).
size_t trailing_space(const Cps& t, size_t i) {
  const size_t n = run(t, i, space);
  if (i + n == t.size() || n == 1) return n;  // at the end, or a single space (\s+ takes it)
  return n - 1;  // leave the last space to the word that follows
}

size_t match_gpt2(const Cps& t, size_t i) {
  if (size_t n = contraction(t, i, false)) return n;
  const uint32_t c = t.cp[i];
  const bool sp = c == ' ' && i + 1 < t.size();
  const uint32_t nx = sp ? t.cp[i + 1] : 0;
  if (letter(c)) return run(t, i, letter);
  if (sp && letter(nx)) return 1 + run(t, i + 1, letter);
  if (number(c)) return run(t, i, number);
  if (sp && number(nx)) return 1 + run(t, i + 1, number);
  if (other(c)) return run(t, i, other);
  if (sp && other(nx)) return 1 + run(t, i + 1, other);
  return trailing_space(t, i);
}

size_t match_llama3(const Cps& t, size_t i, size_t max_digits) {
  if (size_t n = contraction(t, i, true)) return n;
  const uint32_t c = t.cp[i];
  const uint32_t nx = i + 1 < t.size() ? t.cp[i + 1] : 0;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (letter(c)) return run(t, i, letter);
  if (!newline(c) && !number(c) && i + 1 < t.size() && letter(nx)) return 1 + run(t, i + 1, letter);
  // \p{N}{1,3} (or one digit)
  if (number(c)) return std::min(max_digits, run(t, i, number));
  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  if (other(c)) {
    const size_t n = run(t, i, other);
    return n + run(t, i + n, newline);
  }
  if (c == ' ' && i + 1 < t.size() && other(nx)) {
    const size_t n = 1 + run(t, i + 1, other);
    return n + run(t, i + n, newline);
  }
  // \s*[\r\n]+ : white space up to and including its last line break
  const size_t n = run(t, i, space);
  for (size_t k = n; k > 0; --k)
    if (newline(t.cp[i + k - 1])) return k;
  return trailing_space(t, i);
}

void split(std::string_view text, PreTokenizer kind, std::vector<std::string_view>& out) {
  const Cps t(text);
  for (size_t i = 0; i < t.size();) {
    size_t n = 0;
    switch (kind) {
      case PreTokenizer::Gpt2:
      case PreTokenizer::SmolLM: n = match_gpt2(t, i); break;
      case PreTokenizer::Llama3: n = match_llama3(t, i, 3); break;
      case PreTokenizer::Qwen2: n = match_llama3(t, i, 1); break;
    }
    if (n == 0) n = 1;  // cannot happen: every code point matches some alternative
    out.push_back(text.substr(t.off[i], t.off[i + n] - t.off[i]));
    i += n;
  }
}

}  // namespace

std::optional<PreTokenizer> pre_tokenizer_from_name(std::string_view name) {
  if (name == "gpt2" || name == "default" || name.empty() || name == "gpt-2") return PreTokenizer::Gpt2;
  if (name == "llama3" || name == "llama-bpe" || name == "llama-v3" || name == "smaug-bpe")
    return PreTokenizer::Llama3;
  if (name == "qwen2" || name == "qwen3" || name == "qwen35" || name == "deepseek-r1-qwen") return PreTokenizer::Qwen2;
  if (name == "smollm") return PreTokenizer::SmolLM;
  return std::nullopt;
}

std::string pre_tokenizer_names() { return "gpt2, default, llama-bpe, llama3, qwen2, smollm"; }

std::vector<std::string_view> pre_tokenize(std::string_view text, PreTokenizer kind) {
  std::vector<std::string_view> out;
  if (kind != PreTokenizer::SmolLM) {
    split(text, kind, out);
    return out;
  }
  // SmolLM: each digit is a piece of its own; the text between digits goes through gpt2.
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    size_t len;
    const uint32_t cp = decode(text, i, &len);
    if (is_number(cp)) {
      if (i > start) split(text.substr(start, i - start), PreTokenizer::Gpt2, out);
      out.push_back(text.substr(i, len));
      start = i + len;
    }
    i += len;
  }
  if (start < text.size()) split(text.substr(start), PreTokenizer::Gpt2, out);
  return out;
}

}  // namespace tandem::model
