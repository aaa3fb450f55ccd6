// libFuzzer target: the GGUF reader on arbitrary bytes. Bad input must raise InputError and
// nothing else (no crash, no sanitizer report, no other exception type); a file that parses
// must give views that stay inside the buffer, and writing it back must give a file that
// parses to the same tables and rewrites to the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "core/error.h"
#include "gguf/file.h"
#include "gguf/writer.h"

namespace {

void check_views(const tandem::gguf::File& f, std::span<const std::byte> bytes) {
  for (const auto& t : f.tensors()) {
    const auto d = f.tensor_data(t);
    if (d.data() < bytes.data() || d.data() + d.size() > bytes.data() + bytes.size()) std::abort();
    if (d.size() != t.nbytes || d.empty()) std::abort();
    volatile std::byte first = d.front();
    volatile std::byte last = d.back();
    (void)first;
    (void)last;
    const tandem::TensorView v = f.view(t);
    if (v.data != d.data() || v.nbytes() != t.nbytes) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  std::vector<std::byte> again;
  try {
    const tandem::gguf::File f = tandem::gguf::File::parse(bytes, "fuzz.gguf");
    check_views(f, bytes);
    // The writer is stricter than the reader (tensor names under 64 bytes, as llama.cpp wants),
    // so it may refuse a file the reader took; that is an InputError too.
    const tandem::gguf::Writer w = tandem::gguf::Writer::from(f);
    // A tiny file may ask for a huge alignment (valid: a u32 power of two) that canonical
    // padding would blow up to gigabytes; such files are only parsed, not rewritten in memory.
    if (w.file_size() > (1u << 20) + 64 * uint64_t{size}) return 0;
    again = w.to_bytes();
  } catch (const tandem::InputError&) {
    return 0;
  }
  // What the writer wrote must parse (any exception here is a bug: abort), describe the same
  // tables, and be canonical: writing it once more changes nothing.
  try {
    const tandem::gguf::File f2 = tandem::gguf::File::parse(again, "fuzz-again.gguf");
    const tandem::gguf::File f1 = tandem::gguf::File::parse(bytes, "fuzz.gguf");
    // Keys and types must match; values are covered by the byte comparison below (a NaN
    // float would not compare equal to itself).
    if (f2.metadata().size() != f1.metadata().size()) std::abort();
    for (size_t i = 0; i < f1.metadata().size(); ++i)
      if (f1.metadata()[i].first != f2.metadata()[i].first ||
          f1.metadata()[i].second.type() != f2.metadata()[i].second.type())
        std::abort();
    if (f2.tensors().size() != f1.tensors().size()) std::abort();
    for (size_t i = 0; i < f1.tensors().size(); ++i) {
      const auto& a = f1.tensors()[i];
      const auto& b = f2.tensors()[i];
      if (a.name != b.name || a.type != b.type || a.ne != b.ne || a.nbytes != b.nbytes) std::abort();
      const auto da = f1.tensor_data(a), db = f2.tensor_data(b);
      if (!std::equal(da.begin(), da.end(), db.begin(), db.end())) std::abort();
    }
    check_views(f2, again);
    if (tandem::gguf::Writer::from(f2).to_bytes() != again) std::abort();
  } catch (...) {
    std::abort();
  }
  return 0;
}
