#include "server/openai.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <chrono>
#include <random>

#include <fmt/format.h>

#include "core/error.h"
#include "engine/json_constraint.h"
#include "server/api_error.h"

namespace tandem::server {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& param, const std::string& msg, const std::string& code = {}) {
  throw ApiError(400, msg, "invalid_request_error", param, code);
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    case json::value_t::number_float: return "number";
    default: return "integer";
  }
}

// Optional typed fields: absent or null keeps the default.
bool get_bool(const json& b, const char* key, bool def) {
  if (!b.contains(key) || b[key].is_null()) return def;
  if (!b[key].is_boolean()) bad(key, fmt::format("'{}' must be a boolean, got {}", key, type_name(b[key])));
  return b[key].get<bool>();
}

double get_number(const json& b, const char* key, double def, double lo, double hi) {
  if (!b.contains(key) || b[key].is_null()) return def;
  if (!b[key].is_number()) bad(key, fmt::format("'{}' must be a number, got {}", key, type_name(b[key])));
  const double v = b[key].get<double>();
  if (!(v >= lo && v <= hi)) bad(key, fmt::format("'{}' is {}, must be between {} and {}", key, v, lo, hi));
  return v;
}

int64_t get_int(const json& b, const char* key, int64_t def, int64_t lo, int64_t hi) {
  if (!b.contains(key) || b[key].is_null()) return def;
  const json& v = b[key];
  // 3.0 counts as an integer (JavaScript clients send numbers); 3.5, 1e300 and NaN do not.
  const bool whole_float = v.is_number_float() && std::abs(v.get<double>()) < 9e18 &&
                           v.get<double>() == std::trunc(v.get<double>());
  if (!v.is_number_integer() && !whole_float) bad(key, fmt::format("'{}' must be an integer, got {}", key, type_name(v)));
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    bad(key, fmt::format("'{}' is {}, must be between {} and {}", key, v.get<uint64_t>(), lo, hi));
  const auto x = v.is_number_integer() ? v.get<int64_t>() : static_cast<int64_t>(v.get<double>());
  if (x < lo || x > hi) bad(key, fmt::format("'{}' is {}, must be between {} and {}", key, x, lo, hi));
  return x;
}

std::string content_text(const json& c, size_t i) {
  const std::string param = fmt::format("messages[{}].content", i);
  if (c.is_null()) return {};
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) bad(param, fmt::format("'{}' must be a string or an array of text parts, got {}", param, type_name(c)));
  std::string out;
  for (const json& part : c) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
      bad(param, fmt::format("'{}': only parts of type 'text' with a string 'text' are supported", param));
    out += part["text"].get<std::string>();
  }
  return out;
}

void parse_sampling(const json& b, ParsedRequest& r) {
  engine::SamplingParams& s = r.options.sampling;
  s.temperature = static_cast<float>(get_number(b, "temperature", 1.0, 0.0, 2.0));
  s.top_p = static_cast<float>(get_number(b, "top_p", 1.0, 0.0, 1.0));
  s.top_k = static_cast<int32_t>(get_int(b, "top_k", 40, 0, 1 << 20));  // llama.cpp's extension
  s.min_p = static_cast<float>(get_number(b, "min_p", 0.05, 0.0, 1.0));
  s.presence_penalty = static_cast<float>(get_number(b, "presence_penalty", 0.0, -2.0, 2.0));
  s.frequency_penalty = static_cast<float>(get_number(b, "frequency_penalty", 0.0, -2.0, 2.0));
  s.repeat_penalty = static_cast<float>(get_number(b, "repeat_penalty", 1.0, 0.0, 10.0));
  if (b.contains("seed") && !b["seed"].is_null()) {
    if (!b["seed"].is_number_integer()) bad("seed", fmt::format("'seed' must be an integer, got {}", type_name(b["seed"])));
    const uint64_t seed = b["seed"].is_number_unsigned() ? b["seed"].get<uint64_t>()
                                                         : static_cast<uint64_t>(b["seed"].get<int64_t>());
    s.seed = seed % engine::SamplingParams::kRandomSeed;
  }
}

void parse_stop(const json& b, ParsedRequest& r) {
  if (!b.contains("stop") || b["stop"].is_null()) return;
  const json& v = b["stop"];
  if (v.is_string()) {
    r.options.stop = {v.get<std::string>()};
  } else if (v.is_array()) {
    if (v.size() > 4) bad("stop", fmt::format("'stop' has {} strings, at most 4", v.size()));
    for (const json& x : v) {
      if (!x.is_string()) bad("stop", "'stop' must be a string or an array of strings");
      r.options.stop.push_back(x.get<std::string>());
    }
  } else {
    bad("stop", fmt::format("'stop' must be a string or an array of strings, got {}", type_name(v)));
  }
  for (const auto& s : r.options.stop)
    if (s.empty()) bad("stop", "'stop' strings must not be empty");
}

void parse_response_format(const json& b, ParsedRequest& r) {
  if (!b.contains("response_format") || b["response_format"].is_null()) return;
  const json& f = b["response_format"];
  if (!f.is_object() || !f.contains("type") || !f["type"].is_string())
    bad("response_format", "'response_format' must be an object with a string 'type'");
  const std::string type = f["type"];
  if (type == "text") return;
  if (type == "json_object") {
    r.format = ParsedRequest::Format::JsonObject;
  } else if (type == "json_schema") {
    if (!f.contains("json_schema") || !f["json_schema"].is_object() || !f["json_schema"].contains("schema") ||
        !f["json_schema"]["schema"].is_object())
      bad("response_format", "'response_format.json_schema.schema' must be an object");
    r.format = ParsedRequest::Format::JsonSchema;
    r.schema = f["json_schema"]["schema"];
  } else {
    bad("response_format", fmt::format("'response_format.type' '{}' is not one of text, json_object, json_schema", type));
  }
  try {
    r.options.constraint = engine::make_json_constraint(r.format == ParsedRequest::Format::JsonSchema ? &r.schema : nullptr);
  } catch (const InputError& e) {
    bad("response_format", e.what());
  }
}

}  // namespace

ParsedRequest parse_request(Endpoint ep, const std::string& body, const std::string& served_model) {
  json b;
  try {
    b = json::parse(body);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    bad({}, fmt::format("the body is not valid JSON: {}", e.what()), "invalid_json");
  }
  if (!b.is_object()) bad({}, fmt::format("the body must be a JSON object, got {}", type_name(b)));
  ParsedRequest r;
  r.endpoint = ep;
  if (b.contains("model") && !b["model"].is_null()) {
    if (!b["model"].is_string()) bad("model", fmt::format("'model' must be a string, got {}", type_name(b["model"])));
    r.model = b["model"];
    if (r.model != served_model)
      bad("model", fmt::format("the model '{}' does not exist; this server serves '{}'", r.model, served_model),
          "model_not_found");
  } else {
    r.model = served_model;
  }
  if (ep == Endpoint::Chat) {
    if (!b.contains("messages")) bad("messages", "'messages' is required");
    const json& m = b["messages"];
    if (!m.is_array()) bad("messages", fmt::format("'messages' must be an array, got {}", type_name(m)));
    if (m.empty()) bad("messages", "'messages' must contain at least one message");
    for (size_t i = 0; i < m.size(); ++i) {
      if (!m[i].is_object() || !m[i].contains("role") || !m[i]["role"].is_string())
        bad(fmt::format("messages[{}]", i), fmt::format("'messages[{}]' must be an object with a string 'role'", i));
      r.messages.push_back({m[i]["role"].get<std::string>(), content_text(m[i].value("content", json()), i)});
    }
  } else {
    if (!b.contains("prompt")) bad("prompt", "'prompt' is required");
    const json& p = b["prompt"];
    if (p.is_string()) r.prompt = p.get<std::string>();
    else if (p.is_array() && p.size() == 1 && p[0].is_string()) r.prompt = p[0].get<std::string>();
    else bad("prompt", "'prompt' must be a string (or an array of one string)");
  }
  if (get_int(b, "n", 1, 1, 1 << 20) != 1) bad("n", "'n' must be 1: this server returns one choice per request");
  r.stream = get_bool(b, "stream", false);
  if (b.contains("stream_options") && !b["stream_options"].is_null()) {
    if (!b["stream_options"].is_object()) bad("stream_options", "'stream_options' must be an object");
    r.include_usage = get_bool(b["stream_options"], "include_usage", false);
  }
  const int64_t max_tokens = get_int(b, "max_tokens", -1, 1, int64_t{1} << 31);
  r.options.max_tokens = get_int(b, "max_completion_tokens", max_tokens, 1, int64_t{1} << 31);
  parse_sampling(b, r);
  parse_stop(b, r);
  if (ep == Endpoint::Chat) {
    r.logprobs = get_bool(b, "logprobs", false);
    const int64_t top = get_int(b, "top_logprobs", 0, 0, 20);
    if (top > 0 && !r.logprobs) bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    r.options.top_logprobs = r.logprobs ? static_cast<int>(top) : -1;
  } else {
    const int64_t n = get_int(b, "logprobs", -1, 0, 5);
    r.logprobs = n >= 0;
    r.options.top_logprobs = static_cast<int>(n);
  }
  parse_response_format(b, r);
  return r;
}

void tokenize(const model::Model& m, ParsedRequest& r) {
  const model::Tokenizer& tok = m.tokenizer();
  if (r.endpoint == Endpoint::Chat) {
    std::string text;
    try {
      text = m.chat_template().render(r.messages, /*add_generation_prompt=*/true);
    } catch (const InputError& e) {
      bad("messages", fmt::format("the chat template rejected the messages: {}", e.what()));
    }
    const bool has_bos = tok.bos() >= 0 && text.starts_with(tok.token_text(tok.bos()));
    r.options.prompt = tok.encode(text, /*add_special=*/!has_bos, /*parse_special=*/true);
  } else {
    // Completion prompts are plain text: special-token text stays text (as OpenAI does).
    r.options.prompt = tok.encode(r.prompt, /*add_special=*/true, /*parse_special=*/false);
  }
  if (r.options.prompt.empty()) bad(r.endpoint == Endpoint::Chat ? "messages" : "prompt", "the prompt is empty");
}

std::string finish_reason(engine::StopReason r) {
  switch (r) {
    case engine::StopReason::MaxTokens:
    case engine::StopReason::ContextFull: return "length";
    default: return "stop";
  }
}

nlohmann::json token_logprob(const model::Tokenizer& tok, const engine::Event& e) {
  auto entry = [&](model::TokenId id, float lp) {
    const std::string piece = tok.piece(id);
    json bytes = json::array();
    for (unsigned char c : piece) bytes.push_back(c);
    return json{{"token", piece}, {"logprob", lp}, {"bytes", bytes}};
  };
  json j = entry(e.token, e.logprob);
  json top = json::array();
  for (const auto& t : e.top) top.push_back(entry(t.id, t.logprob));
  j["top_logprobs"] = top;
  return j;
}

ResponseIds new_response_ids(Endpoint ep) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return {fmt::format("{}-{:x}{:06x}", ep == Endpoint::Chat ? "chatcmpl" : "cmpl", salt & 0xffffff, counter++),
          std::chrono::duration_cast<std::chrono::seconds>(now).count()};
}

nlohmann::json usage_json(const engine::Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

namespace {

json logprobs_field(const ParsedRequest& r, const json& content) {
  if (!r.logprobs) return nullptr;
  if (r.endpoint == Endpoint::Chat) return {{"content", content}};
  // Completions: the legacy parallel arrays.
  json tokens = json::array(), lps = json::array(), top = json::array();
  for (const json& c : content) {
    tokens.push_back(c["token"]);
    lps.push_back(c["logprob"]);
    json t = json::object();
    for (const json& x : c["top_logprobs"]) t[x["token"].get<std::string>()] = x["logprob"];
    top.push_back(t);
  }
  return {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", top}};
}

json envelope(const ParsedRequest& r, const ResponseIds& ids, bool chunk) {
  const char* object = r.endpoint == Endpoint::Chat ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                                    : "text_completion";
  return {{"id", ids.id}, {"object", object}, {"created", ids.created}, {"model", r.model},
          {"system_fingerprint", "tandem"}};
}

}  // namespace

nlohmann::json full_response(const ParsedRequest& r, const ResponseIds& ids, const std::string& text,
                             const nlohmann::json& logprobs, engine::StopReason reason, const engine::Usage& u) {
  json j = envelope(r, ids, false);
  json choice = {{"index", 0}, {"finish_reason", finish_reason(reason)}, {"logprobs", logprobs_field(r, logprobs)}};
  if (r.endpoint == Endpoint::Chat) choice["message"] = {{"role", "assistant"}, {"content", text}};
  else choice["text"] = text;
  j["choices"] = json::array({choice});
  j["usage"] = usage_json(u);
  return j;
}

nlohmann::json stream_chunk(const ParsedRequest& r, const ResponseIds& ids, const std::string& text,
                            const nlohmann::json& logprobs, const engine::StopReason* reason, bool first) {
  json j = envelope(r, ids, true);
  json choice = {{"index", 0},
                 {"finish_reason", reason ? json(finish_reason(*reason)) : json(nullptr)},
                 {"logprobs", logprobs.empty() ? json(nullptr) : logprobs_field(r, logprobs)}};
  if (r.endpoint == Endpoint::Chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || (!reason && !first)) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  j["choices"] = json::array({choice});
  if (r.include_usage) j["usage"] = nullptr;
  return j;
}

nlohmann::json usage_chunk(const ParsedRequest& r, const ResponseIds& ids, const engine::Usage& u) {
  json j = envelope(r, ids, true);
  j["choices"] = json::array();
  j["usage"] = usage_json(u);
  return j;
}

}  // namespace tandem::server
