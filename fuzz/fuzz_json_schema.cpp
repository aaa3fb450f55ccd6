// libFuzzer target: response_format schemas come from clients. The input is a schema, a NUL,
// then text: compiling any schema ends in a constraint or an InputError, and matching any text
// against it ends in true or false: no crash, no hang, no other exception.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/json_constraint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* p = reinterpret_cast<const char*>(data);
  const char* nul = static_cast<const char*>(std::memchr(p, '\0', size));
  const std::string schema_text(p, nul ? static_cast<size_t>(nul - p) : size);
  const std::string text = nul ? std::string(nul + 1, p + size) : std::string();
  const nlohmann::json schema = nlohmann::json::parse(schema_text, nullptr, false, true);
  if (schema.is_discarded()) return 0;
  try {
    (void)tandem::engine::make_json_constraint(&schema);
    (void)tandem::engine::json_matches(&schema, text);
  } catch (const tandem::InputError&) {
  } catch (const nlohmann::json::exception&) {
    __builtin_trap();  // a schema value of the wrong type must be an InputError, not this
  }
  return 0;
}
