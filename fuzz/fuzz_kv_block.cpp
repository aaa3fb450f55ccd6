// libFuzzer target: the disk tier's check of a block file on arbitrary bytes. Whatever the
// bytes, it returns a verdict without reading outside them, and an Ok is only ever given to
// bytes whose header, tokens and payload checksums all hold for the block asked for.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "cache/disk_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  // The block asked for: seed and name from the first bytes when there are some, so that the
  // fuzzer can reach the later checks.
  uint64_t seed = 1, hash = 2;
  if (size >= 32) {
    std::memcpy(&seed, data + 16, 8);
    std::memcpy(&hash, data + 24, 8);
  }
  const std::vector<int32_t> tokens = {1, 2, 3, 4};
  std::vector<std::byte> out(64);
  const auto v = tandem::cache::check_block_file(bytes, seed, hash, tokens, out);
  if (v == tandem::cache::BlockFileVerdict::Ok && size != 56 + 16 + 64) std::abort();
  return 0;
}
