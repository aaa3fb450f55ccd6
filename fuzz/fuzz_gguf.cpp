// libFuzzer target: the GGUF reader on arbitrary bytes. Bad input must raise InputError and
// nothing else (no crash, no sanitizer report, no other exception type); good input must give
// views that stay inside the buffer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "core/error.h"
#include "gguf/file.h"
#include "gguf/writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const tandem::gguf::File f = tandem::gguf::File::parse(bytes, "fuzz.gguf");
    for (const auto& t : f.tensors()) {
      const auto d = f.tensor_data(t);
      if (d.data() < bytes.data() || d.data() + d.size() > bytes.data() + bytes.size()) std::abort();
      if (d.size() != 0) {
        volatile std::byte first = d.front();
        volatile std::byte last = d.back();
        (void)first;
        (void)last;
      }
    }
    // A file that parses can be written out again and parses again.
    const auto again = tandem::gguf::Writer::from(f).to_bytes();
    (void)tandem::gguf::File::parse(again, "fuzz-again.gguf");
  } catch (const tandem::InputError&) {
  }
  return 0;
}
