// libFuzzer target: request bodies come from any HTTP client. Parsing a body for either
// endpoint must end in a request or an ApiError (a 4xx): no crash, no hang, no other exception.
// The bytes are also run through the JSON-mode automaton (any object) as if a model wrote them.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/json_constraint.h"
#include "server/api_error.h"
#include "server/openai.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  for (auto ep : {tandem::server::Endpoint::Chat, tandem::server::Endpoint::Completion}) {
    try {
      (void)tandem::server::parse_request(ep, body, "model");
    } catch (const tandem::server::ApiError& e) {
      if (e.status < 400 || e.status >= 500) __builtin_trap();
    }
  }
  (void)tandem::engine::json_matches(nullptr, body);
  return 0;
}
