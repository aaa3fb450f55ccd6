// Instruction-set levels of the operator library, detected once from CPUID.
// TANDEM_ISA=scalar|avx2|avx512 caps the level (to test or compare the lower paths); asking
// for more than the CPU has is an error, not a silent fallback.
#pragma once

#include <array>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace tandem {

enum class Isa : int {
  Scalar = 0,  // portable C++: the reference every variant is tested against
  Avx2 = 1,    // AVX2 + FMA + F16C
  Avx512 = 2,  // AVX-512 F/BW/DQ/VL + VNNI (+ BF16 where present)
  Count
};

std::string_view isa_name(Isa isa);

// The best level this CPU (and OS) supports.
Isa detect_isa();
// The level kernels use: detect_isa() capped by TANDEM_ISA, decided once per process.
Isa active_isa();
// Every level from Scalar up to detect_isa(): what tests compare against the reference.
std::vector<Isa> available_isas();
// CPU feature bits beyond the level, for variants that use them when present.
bool cpu_has_avx512_bf16();

// One line for logs and `--version`: "avx512 (detected avx512, vnni, bf16)".
std::string isa_summary();

// The table of kernels of one level, built on first use by build(isa), and only for a level
// this CPU has: a level's registrars are compiled with its instruction set and may use it
// themselves (an AVX-512 registrar built with sanitizers does), so building a table for a
// level the CPU lacks would already fault. `what` names the table in the error.
template <typename Table, typename Build>
const Table& isa_table(Isa isa, const char* what, Build build) {
  TANDEM_CHECK(static_cast<int>(isa) >= 0 && isa <= detect_isa(), "{}({}): a level this CPU does not have", what,
               isa_name(isa));
  static std::array<std::once_flag, static_cast<size_t>(Isa::Count)> once;
  static std::array<std::optional<Table>, static_cast<size_t>(Isa::Count)> tables;
  const auto i = static_cast<size_t>(isa);
  std::call_once(once[i], [&] { tables[i].emplace(build(isa)); });
  return *tables[i];
}

}  // namespace tandem
