// JSON mode: a TokenConstraint that only lets through tokens whose bytes keep the output a
// prefix of a valid JSON object, optionally one that matches a JSON schema, and ends the
// request when the object is complete. The output therefore always parses.
//
// Schema subset (what structured-output APIs commonly use): "type" (object, array, string,
// number, integer, boolean, null, or a list of them), "properties" + "required" (objects with
// properties take no other keys), "items", "enum" and "const" (strings, numbers, booleans,
// null), "minItems"/"maxItems", "anyOf"/"oneOf" of types are treated as "any value". Unsupported
// keywords that would change what is valid ("$ref", "pattern", "format", "allOf") are refused
// with InputError naming them, rather than silently not enforced.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "engine/constraint.h"

namespace tandem::engine {

// schema: null for any JSON object (json_object mode). InputError for an unsupported schema.
std::shared_ptr<TokenConstraint> make_json_constraint(const nlohmann::json* schema);

// Whether text is accepted whole by the same automaton (for tests and for checking outputs).
bool json_matches(const nlohmann::json* schema, std::string_view text);

}  // namespace tandem::engine
