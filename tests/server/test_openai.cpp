// Request parsing for the OpenAI endpoints: each bad field is one 400 naming it, odd but valid
// numbers are accepted, and nothing else escapes (the fuzz target checks the same at scale).
#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server/openai.h"

namespace tandem::server {
namespace {

ApiError refused(Endpoint ep, const std::string& body) {
  try {
    parse_request(ep, body, "m");
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << body;
  return ApiError(0, "");
}

TEST(OpenAiRequest, BadFieldsAreOne400NamingTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1e300})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 2.5})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 18446744073709551615})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"})", "temperature"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_p": 1.5})", "top_p"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop": [1]})", "stop"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop": ["a","b","c","d","e"]})", "stop"},
      {R"({"messages": [{"role": "user", "content": "x"}], "n": 3})", "n"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 3})", "top_logprobs"},
      {R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "yaml"}})", "response_format"},
      {R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object", "properties": {"a": {"type": "array", "minItems": -1}}}}}})", "response_format"},
      {R"({"messages": [{"role": "user", "content": "x"}], "model": "other"})", "model"},
      {R"({"messages": [{"role": 5}]})", "messages[0]"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", "messages[0].content"},
      {R"({"messages": []})", "messages"},
  };
  for (const auto& [body, param] : cases) {
    const ApiError e = refused(Endpoint::Chat, body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body << ": " << e.what();
  }
  EXPECT_EQ(refused(Endpoint::Completion, R"({"prompt": 5})").param, "prompt");
  EXPECT_EQ(refused(Endpoint::Chat, "[1]").status, 400);
  EXPECT_EQ(refused(Endpoint::Chat, "{").code, "invalid_json");
  EXPECT_EQ(refused(Endpoint::Chat, R"({"max_tokens": 6e99999})").code, "invalid_json") << "found by fuzz_request";
}

TEST(OpenAiRequest, ValidOddValuesAreAccepted) {
  const ParsedRequest r = parse_request(Endpoint::Chat,
      R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
          "max_tokens": 3.0, "seed": -1, "stop": "x", "logprobs": true, "top_logprobs": 2, "stream": true,
          "stream_options": {"include_usage": true}, "response_format": {"type": "json_object"}, "user": "ignored"})",
      "m");
  EXPECT_EQ(r.messages[0].content, "ab");
  EXPECT_EQ(r.options.max_tokens, 3);
  EXPECT_EQ(r.options.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(r.options.top_logprobs, 2);
  EXPECT_TRUE(r.stream && r.include_usage);
  EXPECT_NE(r.options.constraint, nullptr);
  const ParsedRequest c = parse_request(Endpoint::Completion, R"({"prompt": ["one"], "logprobs": 0, "max_completion_tokens": 7})", "m");
  EXPECT_EQ(c.prompt, "one");
  EXPECT_EQ(c.options.top_logprobs, 0);
  EXPECT_EQ(c.options.max_tokens, 7);
}

}  // namespace
}  // namespace tandem::server
