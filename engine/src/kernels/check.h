// Argument validation for the public entry points: one cheap check per call
// (never per element) that throws std::invalid_argument naming the argument.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace slim::kernels {

[[noreturn]] inline void fail_argument(const char* where, const std::string& what) {
  throw std::invalid_argument(std::string("slim::kernels::") + where + ": " + what);
}

inline void check_positive(const char* where, const char* name, int64_t value) {
  if (value <= 0) fail_argument(where, std::string(name) + " must be positive, got " + std::to_string(value));
}

inline void check_non_negative(const char* where, const char* name, int64_t value) {
  if (value < 0) fail_argument(where, std::string(name) + " must be >= 0, got " + std::to_string(value));
}

inline void check_not_null(const char* where, const char* name, const void* p) {
  if (p == nullptr) fail_argument(where, std::string(name) + " is null");
}

// begin <= end, both inside [0, limit].
inline void check_range(const char* where, const char* name, int64_t begin, int64_t end, int64_t limit) {
  if (begin < 0 || begin > end || end > limit) {
    fail_argument(where, std::string(name) + " [" + std::to_string(begin) + ", " + std::to_string(end) +
                             ") is not inside [0, " + std::to_string(limit) + ")");
  }
}

// The arguments every GEMM driver takes (any dtype): sizes, a row range, a
// column range starting on a packed panel of width `tile_cols`, leading
// dimensions, and the A and C pointers (checked even for K == 0: the drivers
// still offset them).
inline void check_gemm_shape(const char* where, const char* kernel_name, int tile_cols, int64_t K, int64_t N,
                             const void* A, int64_t lda, const void* C, int64_t ldc, int64_t rows_begin,
                             int64_t rows_end, int64_t cols_begin, int64_t cols_end) {
  check_non_negative(where, "K", K);
  check_non_negative(where, "N", N);
  if (rows_begin < 0 || rows_end < rows_begin) {
    fail_argument(where, "rows [" + std::to_string(rows_begin) + ", " + std::to_string(rows_end) + ") is not a range");
  }
  check_range(where, "cols", cols_begin, cols_end, N);
  if (cols_begin % tile_cols != 0) {
    fail_argument(where, "cols.begin " + std::to_string(cols_begin) + " is not a multiple of the panel width " +
                             std::to_string(tile_cols) + " (tile_cols of " + kernel_name + ")");
  }
  if (rows_end == rows_begin || cols_end == cols_begin) return;
  if (lda < K) fail_argument(where, "lda " + std::to_string(lda) + " < K " + std::to_string(K));
  if (ldc < N) fail_argument(where, "ldc " + std::to_string(ldc) + " < N " + std::to_string(N));
  check_not_null(where, "A", A);
  check_not_null(where, "C", C);
}

}  // namespace slim::kernels
