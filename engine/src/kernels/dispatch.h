// Per-ISA function tables: the public entry points validate their arguments,
// then call through the table of the requested ISA. Internal to slim_kernels.
#pragma once

#include <cstdint>

#include "core/isa.h"
#include "kernels/kernels.h"

namespace slim::kernels {

struct KernelTable {
  Isa isa;
  int gemm_mr;  // micro-tile rows
  int gemm_nr;  // micro-tile columns = packed panel width
  void (*activation)(const Activation& act, const float* x, float* y, int64_t n);
  void (*sgemm_packed)(int64_t K, const float* A, int64_t lda, const float* packed_b, float* C, int64_t ldc,
                       const Epilogue& ep, Range rows, Range cols);
  void (*depthwise)(const Conv2dShape& s, const float* input, const float* w, float* output,
                    const Epilogue& ep, Range rows);
  void (*max_pool)(const Pool2dShape& s, const float* input, float* output, Range rows);
  void (*avg_pool)(const Pool2dShape& s, const float* input, float* output, Range rows);
  void (*global_avg_pool)(int64_t batch, int64_t pixels, int64_t channels, const float* input, float* output,
                          Range channel_range);
};

// The table for `isa`, or for the highest compiled-in level below it.
const KernelTable& kernel_table(Isa isa);

// Defined in the per-ISA translation units (only those compiled in exist).
const KernelTable& scalar_kernel_table();
const KernelTable& avx2_kernel_table();
const KernelTable& avx512_kernel_table();

}  // namespace slim::kernels
