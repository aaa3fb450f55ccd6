#include "kernels/isa.h"

#include <cpuid.h>

#include <cstdlib>
#include <string>

#include "core/error.h"

namespace tandem {
namespace {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
  bool avx512vnni = false, avx512bf16 = false;
};

uint64_t xgetbv0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

CpuFeatures read_cpu() {
  CpuFeatures f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1;
  if (!osxsave) return f;
  const uint64_t xcr0 = xgetbv0();
  const bool os_avx = (xcr0 & 0x6) == 0x6;             // XMM + YMM state
  const bool os_avx512 = (xcr0 & 0xe6) == 0xe6;         // + opmask, ZMM_Hi256, Hi16_ZMM
  f.fma = os_avx && ((c >> 12) & 1);
  f.f16c = os_avx && ((c >> 29) & 1);
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  f.avx2 = os_avx && ((b >> 5) & 1);
  f.avx512f = os_avx512 && ((b >> 16) & 1);
  f.avx512dq = os_avx512 && ((b >> 17) & 1);
  f.avx512bw = os_avx512 && ((b >> 30) & 1);
  f.avx512vl = os_avx512 && ((b >> 31) & 1);
  f.avx512vnni = os_avx512 && ((c >> 11) & 1);
  __cpuid_count(7, 1, a, b, c, d);
  f.avx512bf16 = os_avx512 && ((a >> 5) & 1);
  return f;
}

const CpuFeatures& cpu() {
  static const CpuFeatures f = read_cpu();
  return f;
}

Isa compute_active() {
  const Isa best = detect_isa();
  const char* env = std::getenv("TANDEM_ISA");
  if (env == nullptr || *env == '\0') return best;
  const std::string want(env);
  Isa asked = Isa::Count;
  for (int i = 0; i < static_cast<int>(Isa::Count); ++i)
    if (want == isa_name(static_cast<Isa>(i))) asked = static_cast<Isa>(i);
  if (asked == Isa::Count)
    throw_input("TANDEM_ISA={}: unknown level (known: scalar, avx2, avx512)", want);
  if (asked > best)
    throw_input("TANDEM_ISA={}: this CPU supports at most {}", want, isa_name(best));
  return asked;
}

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Count: break;
  }
  return "?";
}

Isa detect_isa() {
  const CpuFeatures& f = cpu();
  if (f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl && f.avx512vnni && f.fma && f.f16c)
    return Isa::Avx512;
  if (f.avx2 && f.fma && f.f16c) return Isa::Avx2;
  return Isa::Scalar;
}

Isa active_isa() {
  static const Isa isa = compute_active();
  return isa;
}

std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (int i = 0; i <= static_cast<int>(detect_isa()); ++i) out.push_back(static_cast<Isa>(i));
  return out;
}

bool cpu_has_avx512_bf16() { return cpu().avx512bf16; }

std::string isa_summary() {
  const CpuFeatures& f = cpu();
  std::string s = fmt::format("{} (cpu: ", isa_name(active_isa()));
  s += f.avx2 ? "avx2" : "no-avx2";
  if (f.avx512f) s += " avx512";
  if (f.avx512vnni) s += " vnni";
  if (f.avx512bf16) s += " bf16";
  s += ")";
  return s;
}

}  // namespace tandem
