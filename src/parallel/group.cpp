#include "parallel/group.h"

#include <xxhash.h>

#include <cstdio>
#include <vector>

#include "core/error.h"

namespace tandem::parallel {

uint64_t model_digest(const std::string& path, uint64_t tensor_data_offset) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw_input("{}: cannot open to compute its digest", path);
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  std::vector<char> buf(1 << 16);
  uint64_t left = tensor_data_offset;
  while (left > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
    const size_t got = std::fread(buf.data(), 1, want, f);
    if (got == 0) break;
    XXH3_64bits_update(st, buf.data(), got);
    left -= got;
  }
  std::fseek(f, 0, SEEK_END);
  const long size = std::ftell(f);
  std::fclose(f);
  XXH3_64bits_update(st, &size, sizeof(size));
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

void check_same(Collective& group, std::string_view what, uint64_t value) {
  std::vector<uint64_t> all(static_cast<size_t>(group.size()));
  group.all_gather(&value, sizeof(value), all.data());
  std::string differ;
  for (int r = 1; r < group.size(); ++r)
    if (all[static_cast<size_t>(r)] != all[0]) differ += fmt::format("{}{}", differ.empty() ? "" : ", ", r);
  if (!differ.empty())
    throw_input("the group's ranks disagree on the {}: rank(s) {} differ from rank 0 (every rank must run the "
                "same file with the same flags)",
                what, differ);
}

}  // namespace tandem::parallel
