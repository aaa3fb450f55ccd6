#include "model/hf_tokenizer.h"

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "gguf/writer.h"

namespace tandem::model {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

json read_json(const fs::path& p, bool required) {
  std::ifstream in(p);
  if (!in) {
    if (required) throw_input("{}: cannot open (a Hugging Face tokenizer needs it)", p.string());
    return json();
  }
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw_input("{}: not valid JSON: {}", p.string(), e.what());
  }
}

// A special token in tokenizer_config.json: "text" or {"content": "text", ...}.
std::string token_string(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

// Every regex pattern and pre-tokenizer type in the pre_tokenizer tree, in order.
void collect(const json& pt, std::vector<std::string>& types, std::vector<std::string>& regexes, bool& individual_digits) {
  if (!pt.is_object()) return;
  const std::string type = pt.value("type", "");
  types.push_back(type);
  if (type == "Sequence" && pt.contains("pretokenizers"))
    for (const auto& p : pt["pretokenizers"]) collect(p, types, regexes, individual_digits);
  if (type == "Split" && pt.contains("pattern") && pt["pattern"].contains("Regex"))
    regexes.push_back(pt["pattern"]["Regex"].get<std::string>());
  if (type == "Digits") individual_digits = pt.value("individual_digits", false);
}

// The tokenizer.ggml.pre name for a byte-level pre-tokenizer, from its regex (the names llama.cpp
// knows: "gpt-2", "llama-bpe", "qwen2", "smollm").
std::string detect_pre(const json& tok, const fs::path& file) {
  std::vector<std::string> types, regexes;
  bool digits = false;
  collect(tok.value("pre_tokenizer", json()), types, regexes, digits);
  const bool byte_level = std::find(types.begin(), types.end(), "ByteLevel") != types.end();
  if (!byte_level) throw_input("{}: pre_tokenizer: a BPE tokenizer without a ByteLevel step is not supported", file.string());
  if (regexes.empty()) return digits ? "smollm" : "gpt-2";
  const std::string& r = regexes.front();
  const bool llama_like = r.find("[^\\r\\n\\p{L}\\p{N}]?\\p{L}+") != std::string::npos;
  if (llama_like && r.find("\\p{N}{1,3}") != std::string::npos) return "llama-bpe";
  if (llama_like && r.find("|\\p{N}|") != std::string::npos) return "qwen2";
  if (r.find(" ?\\p{L}+| ?\\p{N}+") != std::string::npos) return digits ? "smollm" : "gpt-2";
  throw_input("{}: pre_tokenizer: the split regex '{}' is not one tandem knows (GPT-2, Llama 3, Qwen2)", file.string(), r);
}

}  // namespace

void add_hf_tokenizer(const fs::path& dir, gguf::Writer& out, int64_t n_vocab) {
  const fs::path tok_path = dir / "tokenizer.json";
  const json tok = read_json(tok_path, true);
  const json cfg = read_json(dir / "tokenizer_config.json", false);
  const json model_cfg = read_json(dir / "config.json", false);
  if (!tok.contains("model") || !tok["model"].is_object() || tok["model"].value("type", "") != "BPE")
    throw_input("{}: model.type: only BPE tokenizers are supported", tok_path.string());
  const json& m = tok["model"];
  if (!m.contains("vocab") || !m["vocab"].is_object()) throw_input("{}: model.vocab: missing", tok_path.string());

  // Vocabulary by id, then the added tokens (which may extend it).
  std::map<int64_t, std::string> by_id;
  for (const auto& [text, id] : m["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) throw_input("{}: model.vocab['{}']: not a token id", tok_path.string(), text);
    by_id[id.get<int64_t>()] = text;
  }
  std::map<int64_t, bool> added_special;  // id -> special
  if (tok.contains("added_tokens"))
    for (const auto& a : tok["added_tokens"]) {
      const int64_t id = a.value("id", int64_t{-1});
      if (id < 0 || !a.contains("content")) throw_input("{}: added_tokens: an entry without id or content", tok_path.string());
      by_id[id] = a["content"].get<std::string>();
      added_special[id] = a.value("special", false);
    }
  const int64_t n = std::max(by_id.empty() ? 0 : by_id.rbegin()->first + 1, n_vocab);
  if (n == 0 || n > (int64_t{1} << 24)) throw_input("{}: model.vocab: {} tokens", tok_path.string(), n);

  const bool spm = m.value("byte_fallback", false) || m["vocab"].contains("<0x00>");
  // SentencePiece scores: the converted merges are in score order, so a piece made by merge r
  // gets score -r; pieces no merge makes (characters, bytes, specials) rank below every merge.
  std::map<std::string, int64_t> merge_rank;
  if (spm && m.contains("merges") && m["merges"].is_array()) {
    int64_t r = 0;
    for (const auto& x : m["merges"]) {
      std::string a, b;
      if (x.is_string()) {
        const std::string t = x.get<std::string>();
        const size_t sp = t.find(' ');
        if (sp == std::string::npos) continue;
        a = t.substr(0, sp);
        b = t.substr(sp + 1);
      } else if (x.is_array() && x.size() == 2) {
        a = x[0].get<std::string>();
        b = x[1].get<std::string>();
      }
      merge_rank.emplace(a + b, r++);
    }
  }
  gguf::Array tokens{gguf::ValueType::String, {}}, types{gguf::ValueType::I32, {}}, scores{gguf::ValueType::F32, {}};
  std::map<std::string, int64_t> id_of;
  for (int64_t i = 0; i < n; ++i) {
    auto it = by_id.find(i);
    // Holes in the id range become unused padding tokens, as llama.cpp's converter writes them.
    const std::string text = it != by_id.end() ? it->second : fmt::format("[PAD{}]", i);
    id_of.emplace(text, i);
    int32_t type = it == by_id.end() ? 5 : 1;  // unused / normal
    if (auto a = added_special.find(i); a != added_special.end()) type = a->second ? 3 : 4;
    else if (spm && text.size() == 6 && text.starts_with("<0x") && text.back() == '>') type = 6;
    if (spm && text == "<unk>") type = 2;
    tokens.items.emplace_back(text);
    types.items.emplace_back(type);
    float score = 0.0f;
    if (spm) {
      auto r = merge_rank.find(text);
      score = r != merge_rank.end() ? -static_cast<float>(r->second) : -1e9f - static_cast<float>(i);
    }
    scores.items.emplace_back(score);
  }
  out.set("tokenizer.ggml.model", spm ? "llama" : "gpt2");
  if (!spm) out.set("tokenizer.ggml.pre", detect_pre(tok, tok_path));
  out.set("tokenizer.ggml.tokens", std::move(tokens));
  if (spm) out.set("tokenizer.ggml.scores", std::move(scores));
  out.set("tokenizer.ggml.token_type", std::move(types));
  if (!spm) {
    gguf::Array merges{gguf::ValueType::String, {}};
    if (m.contains("merges"))
      for (const auto& x : m["merges"]) {
        if (x.is_string()) merges.items.emplace_back(x.get<std::string>());
        else if (x.is_array() && x.size() == 2) merges.items.emplace_back(x[0].get<std::string>() + " " + x[1].get<std::string>());
        else throw_input("{}: model.merges: an entry that is neither \"a b\" nor [a, b]", tok_path.string());
      }
    out.set("tokenizer.ggml.merges", std::move(merges));
  }

  auto set_id = [&](const char* key, const std::string& text) {
    if (text.empty()) return;
    auto it = id_of.find(text);
    if (it != id_of.end()) out.set(key, static_cast<uint32_t>(it->second));
  };
  auto cfg_id = [&](const char* cfg_key, const char* key) {
    if (model_cfg.is_object() && model_cfg.contains(cfg_key) && model_cfg[cfg_key].is_number_integer()) {
      const int64_t id = model_cfg[cfg_key].get<int64_t>();
      if (id >= 0 && id < n) out.set(key, static_cast<uint32_t>(id));
    }
  };
  // config.json first, tokenizer_config.json's texts override (they name the tokens used).
  cfg_id("bos_token_id", "tokenizer.ggml.bos_token_id");
  cfg_id("eos_token_id", "tokenizer.ggml.eos_token_id");
  if (cfg.is_object()) {
    set_id("tokenizer.ggml.bos_token_id", token_string(cfg.value("bos_token", json())));
    set_id("tokenizer.ggml.eos_token_id", token_string(cfg.value("eos_token", json())));
    set_id("tokenizer.ggml.unknown_token_id", token_string(cfg.value("unk_token", json())));
    set_id("tokenizer.ggml.padding_token_id", token_string(cfg.value("pad_token", json())));
    if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean()) out.set("tokenizer.ggml.add_bos_token", cfg["add_bos_token"].get<bool>());
    if (cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean()) out.set("tokenizer.ggml.add_eos_token", cfg["add_eos_token"].get<bool>());
    if (cfg.contains("chat_template")) {
      const json& ct = cfg["chat_template"];
      if (ct.is_string()) {
        out.set("tokenizer.chat_template", ct.get<std::string>());
      } else if (ct.is_array()) {
        for (const auto& t : ct)
          if (t.value("name", "") == "default") out.set("tokenizer.chat_template", t.value("template", ""));
      }
    }
  }
  if (spm) {
    set_id("tokenizer.ggml.unknown_token_id", "<unk>");
    // SentencePiece prepends a space unless the tokenizer says otherwise.
    bool prefix = true;
    if (tok.contains("pre_tokenizer") && tok["pre_tokenizer"].is_object() &&
        tok["pre_tokenizer"].value("type", "") == "Metaspace") {
      const json& p = tok["pre_tokenizer"];
      prefix = p.value("add_prefix_space", true) && p.value("prepend_scheme", std::string("always")) != "never";
    }
    out.set("tokenizer.ggml.add_space_prefix", prefix);
  }
}

}  // namespace tandem::model
