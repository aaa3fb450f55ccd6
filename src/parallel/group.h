// Starting a tensor-parallel group: every rank must hold the same model file and the same
// settings, or the slices they compute would not add up. check_same() compares a digest from
// every rank and, on any difference, throws the same InputError on every rank, naming the ranks
// that differ, before any weight is read.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/collective.h"

namespace tandem::parallel {

// Throws InputError on every rank when the ranks' values differ ("what" names it: "model file",
// "flags").
void check_same(Collective& group, std::string_view what, uint64_t value);

}  // namespace tandem::parallel
