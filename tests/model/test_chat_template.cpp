// Chat templates: real templates (tests/data/chat_templates/, each with its source) rendered by
// tandem's interpreter and by Jinja2 as Hugging Face configures it (tests/reference/
// render_chat.py, Debian's python3-jinja2) must give the same bytes, or both must fail.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/chat_template.h"

namespace tandem::model {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

json conversations() {
  return json::array({
      json::array({{{"role", "user"}, {"content", "Hello!"}}}),
      json::array({{{"role", "system"}, {"content", "You are terse."}},
                   {{"role", "user"}, {"content", "Hi"}},
                   {{"role", "assistant"}, {"content", "Hello."}},
                   {{"role", "user"}, {"content", "What's 2+2?"}}}),
      json::array({{{"role", "user"}, {"content", "a"}},
                   {{"role", "assistant"}, {"content", "b"}},
                   {{"role", "user"}, {"content", "c"}}}),
      json::array({{{"role", "user"}, {"content", "  Quotes \"x\" and 'y'\nnew line\tand unicode: café 中文 😀  "}}}),
      json::array({{{"role", "system"}, {"content", "Rules:\n1. be brief\n2. be kind"}},
                   {{"role", "user"}, {"content", "<think>not really</think> hi"}}}),
      json::array({{{"role", "user"}, {"content", "one"}}, {{"role", "user"}, {"content", "two"}}}),  // alternation error
      json::array({{{"role", "user"}, {"content", "q"}},
                   {{"role", "assistant"}, {"content", "<think>\nreasoning\n</think>\n\nanswer"}},
                   {{"role", "user"}, {"content", "more"}}}),
  });
}

TEST(ChatTemplate, RealTemplatesRenderLikeJinja2) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(TANDEM_TEST_DATA_DIR "/chat_templates"))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 10u);
  json cases = json::array();
  std::vector<std::string> names;
  for (const auto& f : files) {
    std::ifstream in(f);
    const json t = json::parse(in);
    for (const auto& conv : conversations())
      for (bool agp : {false, true}) {
        cases.push_back({{"template", t["template"]}, {"bos_token", t["bos_token"]}, {"eos_token", t["eos_token"]},
                         {"messages", conv}, {"add_generation_prompt", agp}});
        names.push_back(f.stem().string());
      }
  }
  const fs::path in = fs::temp_directory_path() / ("tandem-chat-in-" + std::to_string(::getpid()) + ".json");
  const fs::path out = fs::temp_directory_path() / ("tandem-chat-out-" + std::to_string(::getpid()) + ".json");
  std::ofstream(in) << json{{"cases", cases}}.dump();
  const std::string cmd = "TZ=UTC /usr/bin/python3 " TANDEM_SOURCE_DIR "/tests/reference/render_chat.py < " + in.string() + " > " + out.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream rin(out);
  const json results = json::parse(rin)["results"];
  fs::remove(in);
  fs::remove(out);
  ASSERT_EQ(results.size(), cases.size());
  int same = 0, errors = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const json& c = cases[i];
    SCOPED_TRACE(names[i] + " case " + std::to_string(i));
    std::vector<ChatMessage> msgs;
    for (const auto& m : c["messages"]) msgs.push_back({m["role"], m["content"]});
    std::string ours;
    bool ok = true;
    std::string err;
    try {
      ChatTemplate t(c["template"], c["bos_token"], c["eos_token"]);
      ours = t.render(msgs, c["add_generation_prompt"]);
    } catch (const InputError& e) {
      ok = false;
      err = e.what();
    }
    EXPECT_EQ(ok, results[i]["ok"].get<bool>()) << (ok ? "jinja2: " + results[i]["error"].get<std::string>() : "ours: " + err);
    if (ok && results[i]["ok"].get<bool>()) {
      EXPECT_EQ(ours, results[i]["text"].get<std::string>());
      same += ours == results[i]["text"].get<std::string>();
    }
    errors += !ok && !results[i]["ok"].get<bool>();
  }
  std::printf("[chat templates] %zu templates, %zu renders: %d identical, %d errors raised by both\n", files.size(),
              cases.size(), same, errors);
}

TEST(ChatTemplate, SyntaxErrorsNameTheLine) {
  try {
    ChatTemplate t("line one\n{% if x %}\nno end", "", "");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("line"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("endif"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ChatTemplate("{{ 1 + }}", "", ""), InputError);
  EXPECT_THROW(ChatTemplate("{% frobnicate %}", "", ""), InputError);
  EXPECT_THROW(ChatTemplate("{{ 'unterminated }}", "", ""), InputError);
}

TEST(ChatTemplate, RaiseExceptionCarriesTheMessage) {
  ChatTemplate t("{{ raise_exception('roles must alternate') }}", "", "");
  try {
    t.render({}, false);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("roles must alternate"), std::string::npos);
  }
}


// Templates are untrusted bytes in a GGUF file: deep nesting, endless work and self-containing
// structures end in one error, not a stack overflow, a hang or a leak.
TEST(ChatTemplate, HostileTemplatesFailCleanly) {
  const std::string deep_parens = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  const std::string deep_nots = "{{ " + [] { std::string s; for (int i = 0; i < 5000; ++i) s += "not "; return s; }() + "x }}";
  const std::string deep_ifs = [] { std::string s; for (int i = 0; i < 500; ++i) s += "{% if 1 %}"; for (int i = 0; i < 500; ++i) s += "{% endif %}"; return s; }();
  for (const std::string& src : {deep_parens, deep_nots, deep_ifs})
    EXPECT_THROW(ChatTemplate(src, "", ""), InputError) << src.substr(0, 40);
  const std::vector<std::string> at_render = {
      "{% for i in range(100000) %}{% for j in range(100) %}{% endfor %}{% endfor %}",
      "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
      "{% set a = [] %}{% set _ = a.append(a) %}{{ a }}",
      "{% set a = [] %}{% set b = [a] %}{% set _ = a.append(b) %}{{ a }}",
      "{% set ns = namespace(x=1) %}{% set ns.x = ns %}{{ ns }}",
  };
  for (const std::string& src : at_render) {
    ChatTemplate t(src, "", "");
    EXPECT_THROW(t.render({}, false), InputError) << src;
  }
  // Found by fuzz_jinja: an integer literal past int64 is an error, not an uncaught exception.
  EXPECT_THROW(ChatTemplate("{{ 99999999999999999999999 }}", "", ""), InputError);
  EXPECT_EQ(ChatTemplate("{{ 9223372036854775807 }}", "", "").render({}, false), "9223372036854775807");
  // Also found by fuzz_jinja: values of the wrong type where a number is needed.
  for (const char* src : {"{{ 'abc'[1:'x'] }}", "{{ [1, 2][none:[]] }}", "{{ (10.0 ** 300) | int }}"}) {
    ChatTemplate t(src, "", "");
    EXPECT_THROW(t.render({}, false), InputError) << src;
  }
  // Nesting that real templates use stays fine.
  EXPECT_EQ(ChatTemplate("{{ ((((1 + 2)))) * 3 }}", "", "").render({}, false), "9");
}

}  // namespace
}  // namespace tandem::model
