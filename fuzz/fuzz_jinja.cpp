// libFuzzer target: chat templates come from untrusted GGUF files. Parsing and rendering any
// text must end in output or an InputError: no crash, no hang, no other exception.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string src(reinterpret_cast<const char*>(data), size);
  try {
    const tandem::model::ChatTemplate t(src, "<s>", "</s>");
    const std::vector<tandem::model::ChatMessage> msgs = {
        {"system", "be brief"}, {"user", "hello"}, {"assistant", "hi"}, {"user", "again"}};
    (void)t.render(msgs, true);
  } catch (const tandem::InputError&) {
  }
  return 0;
}
