// What the CPU can run: the only place that reads CPU features, so the
// runtime, the kernel tests and the benchmark agree on it.
#include <cstdint>

#include "kernels/kernels.h"

#if SLIM_KERNELS_X86
#include <cpuid.h>
#endif

namespace slim::kernels {
namespace {

#if SLIM_KERNELS_X86
uint64_t read_xcr0() {
  uint32_t lo = 0, hi = 0;
  // xgetbv by opcode so that no -mxsave flag is needed for this file.
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

Isa detect() {
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
  const bool vnni = (c >> 11) & 1;  // AVX512_VNNI: CPUID.(7,0):ECX bit 11
  if (f && dq && bw && vl && zmm_state) return vnni ? Isa::kAvx512Vnni : Isa::kAvx512;
  return Isa::kAvx2;
}
#else
Isa detect() { return Isa::kScalar; }
#endif

}  // namespace

Isa cpu_isa() {
  static const Isa isa = detect();
  return isa;
}

}  // namespace slim::kernels
