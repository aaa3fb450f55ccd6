#include "parallel/group.h"

#include <vector>

#include "core/error.h"

namespace tandem::parallel {

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
