#include "core/cpu.h"

#include <cstdint>
#include <cstdlib>

#include "core/error.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <cpuid.h>
#define SLIM_X86 1
#endif

namespace slim {

namespace {

#ifdef SLIM_X86
uint64_t read_xcr0() {
  uint32_t lo = 0, hi = 0;
  // xgetbv by opcode so that no -mxsave flag is needed for this file.
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

Isa detect_isa_uncached() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_max(0, nullptr) < 7) return Isa::kScalar;
  __cpuid(1, a, b, c, d);
  const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
  if (!osxsave || !avx) return Isa::kScalar;
  const uint64_t xcr0 = read_xcr0();
  if ((xcr0 & 0x6) != 0x6) return Isa::kScalar;  // XMM and YMM state
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = (b >> 5) & 1;
  const bool f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
  if (!(avx2 && fma)) return Isa::kScalar;
  const bool zmm_state = (xcr0 & 0xE0) == 0xE0;  // opmask, ZMM_Hi256, Hi16_ZMM
  if (f && dq && bw && vl && zmm_state) return Isa::kAvx512;
  return Isa::kAvx2;
}
#else
Isa detect_isa_uncached() { return Isa::kScalar; }
#endif

}  // namespace

Isa detect_isa() {
  static const Isa isa = detect_isa_uncached();
  return isa;
}

Isa parse_isa(const std::string& name) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512})
    if (name == isa_name(isa)) return isa;
  fail("unknown ISA '", name, "' (valid: scalar, avx2, avx512)");
}

Isa resolve_isa(const std::string& requested) {
  const Isa top = detect_isa();
  if (!requested.empty()) {
    const Isa want = parse_isa(requested);
    SLIM_CHECK(static_cast<int>(want) <= static_cast<int>(top), "isa option asks for ", requested,
               " but this CPU supports at most ", isa_name(top));
    return want;
  }
  const char* env = std::getenv("SLIMLAB_ISA");
  if (env == nullptr || *env == '\0') return top;
  // The variable is often set machine-wide; on a smaller CPU it only caps, never fails.
  Isa want = Isa::kScalar;
  try {
    want = parse_isa(env);
  } catch (const Error& e) {
    fail("SLIMLAB_ISA: ", e.what());
  }
  return static_cast<int>(want) < static_cast<int>(top) ? want : top;
}

std::vector<Isa> isas_up_to(Isa top) {
  std::vector<Isa> out;
  for (int i = 0; i <= static_cast<int>(top); ++i) out.push_back(static_cast<Isa>(i));
  return out;
}

}  // namespace slim
