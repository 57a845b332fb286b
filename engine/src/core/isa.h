// Instruction-set levels a kernel can be compiled for. Detection (CPUID/XGETBV)
// is kernels::cpu_isa() (kernels/cpu.cpp); the SLIMLAB_ISA override is core/cpu.h.
#pragma once

namespace slim {

enum class Isa : int {
  kScalar = 0,  // portable C++ reference, always available
  kAvx2 = 1,    // AVX2 + FMA
  kAvx512 = 2,  // AVX-512 F/BW/DQ/VL
  kAvx512Vnni = 3,  // AVX-512 F/BW/DQ/VL + VNNI (vpdpbusd: the int8 GEMM's dot product)
};

inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx512Vnni: return "avx512vnni";
  }
  return "unknown";
}

}  // namespace slim
