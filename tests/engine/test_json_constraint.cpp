// The JSON automaton behind JSON mode: what it accepts whole, what it refuses, schemas, and
// that unsupported schema keywords are refused rather than ignored.
#include <gtest/gtest.h>

#include "core/error.h"
#include "engine/json_constraint.h"

namespace tandem::engine {
namespace {

using nlohmann::json;

TEST(JsonConstraint, AnyObject) {
  EXPECT_TRUE(json_matches(nullptr, R"({})"));
  EXPECT_TRUE(json_matches(nullptr, R"({"a": [1, -2.5e+3, true, null, "x\"\u00e9"], "b": {"c": {}}})"));
  EXPECT_TRUE(json_matches(nullptr, "{\n  \"a\": 1\n}"));
  EXPECT_FALSE(json_matches(nullptr, R"([1])")) << "json_object mode wants an object";
  EXPECT_FALSE(json_matches(nullptr, R"( {})")) << "no whitespace before the document";
  EXPECT_FALSE(json_matches(nullptr, R"({"a": 01})"));
  EXPECT_FALSE(json_matches(nullptr, R"({"a": 1,})"));
  EXPECT_FALSE(json_matches(nullptr, R"({"a" 1})"));
  EXPECT_FALSE(json_matches(nullptr, R"({"a": tru})"));
  EXPECT_FALSE(json_matches(nullptr, R"({"a": "\q"})"));
  EXPECT_FALSE(json_matches(nullptr, "{\"a\": \"line\nbreak\"}"));
  EXPECT_FALSE(json_matches(nullptr, R"({"a": 1})" " ")) << "nothing after the document";
  EXPECT_FALSE(json_matches(nullptr, "{\n\n\"a\": 1}")) << "blank lines refused";
  EXPECT_FALSE(json_matches(nullptr, R"({"a": 1)")) << "incomplete";
}

TEST(JsonConstraint, Schema) {
  const json s = json::parse(R"({"type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "tags": {"type": "array", "items": {"enum": ["a", "bb"]}, "maxItems": 2},
                   "score": {"type": ["number", "null"]}},
    "required": ["name", "age"]})");
  EXPECT_TRUE(json_matches(&s, R"({"name": "x", "age": 3})"));
  EXPECT_TRUE(json_matches(&s, R"({"age": -3, "tags": ["bb", "a"], "name": "", "score": null})"));
  EXPECT_TRUE(json_matches(&s, R"({"age": 0, "name": "y", "score": 1.5})"));
  EXPECT_FALSE(json_matches(&s, R"({"name": "x"})")) << "age is required";
  EXPECT_FALSE(json_matches(&s, R"({"name": "x", "age": 3.5})")) << "integer";
  EXPECT_FALSE(json_matches(&s, R"({"name": "x", "age": 3, "other": 1})")) << "no other keys";
  EXPECT_FALSE(json_matches(&s, R"({"name": "x", "age": 3, "age": 4})")) << "no key twice";
  EXPECT_FALSE(json_matches(&s, R"({"name": "x", "age": 3, "tags": ["c"]})")) << "enum";
  EXPECT_FALSE(json_matches(&s, R"({"name": "x", "age": 3, "tags": ["a", "a", "a"]})")) << "maxItems";
  EXPECT_FALSE(json_matches(&s, R"({"name": 5, "age": 3})")) << "string";
}

TEST(JsonConstraint, UnsupportedSchemasAreRefused) {
  for (const char* bad : {R"({"type": "object", "properties": {"a": {"$ref": "#/x"}}})",
                          R"({"type": "object", "properties": {"a": {"type": "string", "pattern": "^a"}}})",
                          R"({"type": "array"})", R"({"type": "object", "required": ["zz"], "properties": {}})",
                          R"({"type": "object", "properties": {"a": {"type": "strin"}}})"}) {
    const json s = json::parse(bad);
    EXPECT_THROW(make_json_constraint(&s), InputError) << bad;
  }
}

}  // namespace
}  // namespace tandem::engine
