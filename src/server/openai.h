// The OpenAI API's request and response bodies for /v1/chat/completions and /v1/completions:
// parsing and checking a request (ApiError 400 naming the field), and building responses and
// stream chunks from the engine's events.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request.h"
#include "model/chat_template.h"
#include "model/model.h"

namespace tandem::server {

enum class Endpoint { Chat, Completion };

struct ParsedRequest {
  Endpoint endpoint = Endpoint::Chat;
  std::string model;
  std::vector<model::ChatMessage> messages;  // chat
  std::string prompt;                        // completion
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;
  enum class Format { Text, JsonObject, JsonSchema } format = Format::Text;
  nlohmann::json schema;  // JsonSchema
  engine::RequestOptions options;  // prompt tokens filled in by tokenize()
};

// Parses and checks a body; served_model is the one id /v1/models lists.
ParsedRequest parse_request(Endpoint ep, const std::string& body, const std::string& served_model);

// Renders the model's chat template (or takes the prompt text) and tokenizes it into options.prompt.
void tokenize(const model::Model& m, ParsedRequest& r);

// "stop", "length" or "content_filter"-free OpenAI finish reasons.
std::string finish_reason(engine::StopReason r);

// The logprobs object of one token (chat: {"token", "logprob", "bytes", "top_logprobs"}).
nlohmann::json token_logprob(const model::Tokenizer& tok, const engine::Event& e);

struct ResponseIds {
  std::string id;   // chatcmpl-... / cmpl-...
  int64_t created;  // unix seconds
};
ResponseIds new_response_ids(Endpoint ep);

// A whole non-streamed response.
nlohmann::json full_response(const ParsedRequest& r, const ResponseIds& ids, const std::string& text,
                             const nlohmann::json& logprobs, engine::StopReason reason, const engine::Usage& u);
// One stream chunk carrying text (and its logprobs), or the final one with finish_reason.
nlohmann::json stream_chunk(const ParsedRequest& r, const ResponseIds& ids, const std::string& text,
                            const nlohmann::json& logprobs, const engine::StopReason* reason, bool first);
// The extra chunk of stream_options.include_usage: empty choices, usage set.
nlohmann::json usage_chunk(const ParsedRequest& r, const ResponseIds& ids, const engine::Usage& u);
nlohmann::json usage_json(const engine::Usage& u);

}  // namespace tandem::server
