// libFuzzer target: the safetensors reader on arbitrary bytes. Bad input must raise InputError
// and nothing else; a file that parses must give tensors whose bytes lie inside the buffer and
// match their shape and type.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "core/error.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto f = tandem::model::SafetensorsFile::parse(bytes, "fuzz.safetensors");
    for (const auto& t : f.tensors()) {
      if (t.data.data() < bytes.data() || t.data.data() + t.data.size() > bytes.data() + bytes.size()) std::abort();
      const size_t elt = t.dtype == tandem::DType::F32 ? 4 : 2;
      if (t.data.size() != static_cast<size_t>(t.nelements()) * elt) std::abort();
    }
  } catch (const tandem::InputError&) {
  }
  return 0;
}
