// The kernel variants: one line per compiled variant, X(Family, name).
//
// This list is the only place a variant is registered. kernels.h declares
// each name; kernel_config() (config.cpp) picks from it; the kernel tests
// (engine/tests/kernels) run every test of a family on each of its variants;
// the kernel benchmark (engine/bench/kernels_bench.cpp) times each variant.
// The name is dtype_op_tile_isa; a test checks it against the variant's own
// tile and ISA.
//
// Within a family, variants come in increasing preference: kernel_config()
// takes the last one the CPU and the requested level allow. A variant lives
// in <dtype>_<family>_<isa>.cpp next to its family's template (or its own
// code), compiled with that ISA's flags (CMakeLists.txt). Adding an ISA
// (e.g. NEON on ARM64) is a section guarded by the architecture; adding a
// dtype (int8, binary) is new families.
//
// int8 (q8_*): q8_lookup has only its scalar variant (a 256-byte table has no
// cheap SIMD lookup below AVX-512 VBMI); the avx512vnni level adds the
// q8_gemm and q8_dwconv variants, every other family runs its avx512 variant
// there. q8_dwconv_8c_avx2 / _16c_avx512 (fp32 sums) stay listed below the
// integer variants that replace them: tested, and the benchmark's baseline.
#pragma once

// Portable C++: always compiled, the reference every other variant is tested against.
#define SLIM_KERNELS_SCALAR(X)                  \
  X(F32Gemm, f32_gemm_4x4_scalar)               \
  X(F32Dwconv, f32_dwconv_1c_scalar)            \
  X(F32MaxPool, f32_maxpool_1c_scalar)          \
  X(F32AvgPool, f32_avgpool_1c_scalar)          \
  X(F32GlobalAvgPool, f32_gavgpool_4c_scalar)   \
  X(F32GlobalMaxPool, f32_gmaxpool_4c_scalar)   \
  X(F32Vact, f32_vact_u4_scalar)                \
  X(F32Vbinary, f32_vbinary_u4_scalar)          \
  X(F32Softmax, f32_softmax_u1_scalar)        \
  X(F32LayerNorm, f32_layernorm_u1_scalar)    \
  X(Q8Gemm, q8_gemm_4x4_scalar)                 \
  X(Q8Dwconv, q8_dwconv_1c_scalar)              \
  X(Q8MaxPool, q8_maxpool_1c_scalar)            \
  X(Q8GlobalAvgPool, q8_gavgpool_1c_scalar)     \
  X(Q8Add, q8_add_u1_scalar)                    \
  X(Q8Mul, q8_mul_u1_scalar)                    \
  X(Q8Quantize, q8_quantize_u1_scalar)          \
  X(Q8Dequantize, q8_dequantize_u1_scalar)      \
  X(Q8Lookup, q8_lookup_u1_scalar)

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define SLIM_KERNELS_X86 1
#define SLIM_KERNELS_ARCH(X)                    \
  X(F32Gemm, f32_gemm_6x16_avx2)                \
  X(F32Dwconv, f32_dwconv_8c_avx2)              \
  X(F32MaxPool, f32_maxpool_8c_avx2)            \
  X(F32AvgPool, f32_avgpool_8c_avx2)            \
  X(F32GlobalAvgPool, f32_gavgpool_32c_avx2)    \
  X(F32GlobalMaxPool, f32_gmaxpool_32c_avx2)    \
  X(F32Vact, f32_vact_u32_avx2)                 \
  X(F32Vbinary, f32_vbinary_u32_avx2)           \
  X(F32Softmax, f32_softmax_u8_avx2)          \
  X(F32LayerNorm, f32_layernorm_u8_avx2)      \
  X(F32Gemm, f32_gemm_8x32_avx512)              \
  X(F32Dwconv, f32_dwconv_16c_avx512)           \
  X(F32MaxPool, f32_maxpool_16c_avx512)         \
  X(F32AvgPool, f32_avgpool_16c_avx512)         \
  X(F32GlobalAvgPool, f32_gavgpool_64c_avx512)  \
  X(F32GlobalMaxPool, f32_gmaxpool_64c_avx512)  \
  X(F32Vact, f32_vact_u64_avx512)               \
  X(F32Vbinary, f32_vbinary_u64_avx512)         \
  X(F32Softmax, f32_softmax_u16_avx512)       \
  X(F32LayerNorm, f32_layernorm_u16_avx512)   \
  X(Q8Gemm, q8_gemm_4x16_avx2)                  \
  X(Q8Dwconv, q8_dwconv_8c_avx2)                \
  X(Q8Dwconv, q8_dwconv_32c_avx2)               \
  X(Q8MaxPool, q8_maxpool_32c_avx2)             \
  X(Q8GlobalAvgPool, q8_gavgpool_32c_avx2)      \
  X(Q8Add, q8_add_u16_avx2)                     \
  X(Q8Mul, q8_mul_u16_avx2)                     \
  X(Q8Quantize, q8_quantize_u16_avx2)           \
  X(Q8Dequantize, q8_dequantize_u16_avx2)       \
  X(Q8Gemm, q8_gemm_8x32_avx512)                \
  X(Q8Dwconv, q8_dwconv_16c_avx512)             \
  X(Q8Dwconv, q8_dwconv_64c_avx512)             \
  X(Q8MaxPool, q8_maxpool_64c_avx512)           \
  X(Q8GlobalAvgPool, q8_gavgpool_64c_avx512)    \
  X(Q8Add, q8_add_u32_avx512)                   \
  X(Q8Mul, q8_mul_u32_avx512)                   \
  X(Q8Quantize, q8_quantize_u32_avx512)         \
  X(Q8Dequantize, q8_dequantize_u32_avx512)     \
  X(Q8Gemm, q8_gemm_8x32_avx512vnni)            \
  X(Q8Dwconv, q8_dwconv_64c_avx512vnni)
#else
#define SLIM_KERNELS_ARCH(X)
#endif

#define SLIM_KERNELS(X) SLIM_KERNELS_SCALAR(X) SLIM_KERNELS_ARCH(X)
