// SGEMM entry points: argument checks and B packing around the chosen f32_gemm variant.
#include <string>

#include "kernels/check.h"
#include "kernels/kernels.h"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace slim::kernels {
namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Panel p holds columns [p * NR, p * NR + NR) as K consecutive rows of NR
// floats; columns past N are zero so the micro-kernel never needs B masking.
void pack_panels(int nr, int64_t K, int64_t N, const float* B, int64_t k_stride, int64_t n_stride,
                 float* packed) {
  if (n_stride != 1 && k_stride == 1) {
    // B given transposed (a conv's [out, in] weights): a column of B is a contiguous row of memory. Blocks
    // of 16 k read each of a panel's rows in one run and fill 16 panel rows that stay in L1, instead of a
    // gather of nr strided floats per k (session creation packs every weight this way).
    constexpr int64_t kBlock = 16;
    for (int64_t p = 0; p < N; p += nr) {
      float* panel = packed + (p / nr) * K * nr;
      const int64_t width = N - p < nr ? N - p : nr;
      for (int64_t k0 = 0; k0 < K; k0 += kBlock) {
        const int64_t kb = K - k0 < kBlock ? K - k0 : kBlock;
        int64_t j = 0;
#if defined(__SSE2__)
        // 4 x 4 register transposes (SSE2 is in every x86-64 baseline: the driver needs no dispatch)
        const int64_t kb4 = kb / 4 * 4;
        for (; j + 4 <= width; j += 4) {
          const float* src = B + (p + j) * n_stride + k0;
          float* dst = panel + k0 * nr + j;
          for (int64_t kk = 0; kk < kb4; kk += 4) {
            __m128 r0 = _mm_loadu_ps(src + kk), r1 = _mm_loadu_ps(src + n_stride + kk);
            __m128 r2 = _mm_loadu_ps(src + 2 * n_stride + kk), r3 = _mm_loadu_ps(src + 3 * n_stride + kk);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            _mm_storeu_ps(dst + kk * nr, r0);
            _mm_storeu_ps(dst + (kk + 1) * nr, r1);
            _mm_storeu_ps(dst + (kk + 2) * nr, r2);
            _mm_storeu_ps(dst + (kk + 3) * nr, r3);
          }
          for (int64_t jj = 0; jj < 4; ++jj)
            for (int64_t kk = kb4; kk < kb; ++kk) dst[kk * nr + jj] = src[jj * n_stride + kk];
        }
#endif
        for (; j < width; ++j) {
          const float* src = B + (p + j) * n_stride + k0;
          float* dst = panel + k0 * nr + j;
          for (int64_t kk = 0; kk < kb; ++kk) dst[kk * nr] = src[kk];
        }
        if (width < nr)
          for (int64_t kk = 0; kk < kb; ++kk)
            for (int64_t j = width; j < nr; ++j) panel[(k0 + kk) * nr + j] = 0.0f;
      }
    }
    return;
  }
  for (int64_t p = 0; p < N; p += nr) {
    float* panel = packed + (p / nr) * K * nr;
    const int64_t width = N - p < nr ? N - p : nr;
    for (int64_t k = 0; k < K; ++k) {
      float* dst = panel + k * nr;
      const float* src = B + k * k_stride + p * n_stride;
      for (int64_t j = 0; j < width; ++j) dst[j] = src[j * n_stride];
      for (int64_t j = width; j < nr; ++j) dst[j] = 0.0f;
    }
  }
}

void check_pack_args(const char* where, int64_t K, int64_t N, const float* B, int64_t ld, int64_t min_ld,
                     const float* packed) {
  check_non_negative(where, "K", K);
  check_non_negative(where, "N", N);
  if (K == 0 || N == 0) return;
  if (ld < min_ld) {
    fail_argument(where, "leading dimension " + std::to_string(ld) + " is smaller than " + std::to_string(min_ld));
  }
  check_not_null(where, "B", B);
  check_not_null(where, "packed", packed);
}

void check_gemm_args(const char* where, const F32GemmKernel& kernel, int64_t K, int64_t N, const float* A, int64_t lda,
                     float* C, int64_t ldc, Range rows, Range cols) {
  check_gemm_shape(where, kernel.name, kernel.tile_cols, K, N, A, lda, C, ldc, rows.begin, rows.end, cols.begin,
                   cols.end);
}

}  // namespace

int64_t packed_b_floats(const F32GemmKernel& k, int64_t K, int64_t N) {
  check_non_negative("packed_b_floats", "K", K);
  check_non_negative("packed_b_floats", "N", N);
  return K * round_up(N, k.tile_cols);
}

void pack_b(const F32GemmKernel& k, int64_t K, int64_t N, const float* B, int64_t ldb, float* packed) {
  check_pack_args("pack_b", K, N, B, ldb, N, packed);
  if (K == 0 || N == 0) return;
  pack_panels(k.tile_cols, K, N, B, ldb, 1, packed);
}

void pack_b_transposed(const F32GemmKernel& k, int64_t K, int64_t N, const float* Bt, int64_t ldbt, float* packed) {
  check_pack_args("pack_b_transposed", K, N, Bt, ldbt, K, packed);
  if (K == 0 || N == 0) return;
  pack_panels(k.tile_cols, K, N, Bt, 1, ldbt, packed);
}

void sgemm_packed(const F32GemmKernel& k, int64_t K, int64_t N, const float* A, int64_t lda, const float* packed_b,
                  float* C, int64_t ldc, const Epilogue& ep, Range rows, Range cols) {
  check_gemm_args("sgemm_packed", k, K, N, A, lda, C, ldc, rows, cols);
  if (rows.size() == 0 || cols.size() == 0) return;
  check_not_null("sgemm_packed", "packed_b", packed_b);
  k.fn(K, A, lda, packed_b, C, ldc, ep, rows, cols);
}

void sgemm(const F32GemmKernel& k, int64_t K, int64_t N, const float* A, int64_t lda, const float* B, int64_t ldb,
           float* C, int64_t ldc, const Epilogue& ep, Range rows, Range cols, float* scratch) {
  check_gemm_args("sgemm", k, K, N, A, lda, C, ldc, rows, cols);
  if (rows.size() == 0 || cols.size() == 0) return;
  check_not_null("sgemm", "B", B);
  check_not_null("sgemm", "scratch", scratch);
  if (K > 0) {
    if (ldb < N) fail_argument("sgemm", "ldb " + std::to_string(ldb) + " < N " + std::to_string(N));
    pack_panels(k.tile_cols, K, cols.size(), B + cols.begin, ldb, 1, scratch);
  }
  // The scratch holds only the packed columns of `cols`, so the driver sees
  // them as columns [0, cols.size()) of a matrix whose origin is C + cols.begin.
  Epilogue shifted = ep;
  if (ep.bias != nullptr) shifted.bias = ep.bias + cols.begin;
  k.fn(K, A, lda, scratch, C + cols.begin, ldc, shifted, rows, {0, cols.size()});
}

}  // namespace slim::kernels
