// libFuzzer target: a tokenizer built from the fuzzed GGUF metadata must load or raise
// InputError; one that loads must encode fixed and fuzzed text to ids inside its vocabulary and
// decode them without crashing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "core/error.h"
#include "gguf/file.h"
#include "model/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto f = tandem::gguf::File::parse(bytes, "fuzz.gguf");
    const auto tok = tandem::model::Tokenizer::from_gguf(f);
    const std::string tail(reinterpret_cast<const char*>(data) + size / 2, size - size / 2);
    for (const std::string& text : {std::string("Hello, world! 123 <s> \xE4\xB8\xAD\xF0\x9F\x98\x80"), tail.substr(0, 256)}) {
      const auto ids = tok.encode(text, true, true);
      for (auto id : ids)
        if (id < 0 || id >= tok.n_vocab()) std::abort();
      tandem::model::StreamDecoder d(tok);
      for (auto id : ids) (void)d.push(id);
      (void)d.flush();
    }
  } catch (const tandem::InputError&) {
  }
  return 0;
}
