// int8 GEMM and convolution entry points: argument checks, B packing (with the
// column sums the caller folds the activation zero point with) and im2col in
// uint8 around the chosen q8_gemm variant.
#include <cstring>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "kernels/kernels.h"

namespace slim::kernels {
namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Panel p: round_up(K, 4) / 4 groups of nr columns x 4 k bytes; zero past K and N.
void q8_pack_panels(int nr, int64_t K, int64_t N, const int8_t* B, int64_t k_stride, int64_t n_stride,
                    int8_t* packed, int32_t* col_sums) {
  const int64_t kp = round_up(K, 4);
  for (int64_t p = 0; p < N; p += nr) {
    int8_t* panel = packed + (p / nr) * kp * nr;
    const int64_t width = N - p < nr ? N - p : nr;
    std::memset(panel, 0, static_cast<size_t>(kp * nr));
    for (int64_t j = 0; j < width; ++j) {
      const int8_t* src = B + (p + j) * n_stride;
      int32_t sum = 0;
      for (int64_t k = 0; k < K; ++k) {
        const int8_t w = src[k * k_stride];
        panel[(k / 4) * 4 * nr + j * 4 + k % 4] = w;
        sum += w;
      }
      if (col_sums != nullptr) col_sums[p + j] = sum;
    }
  }
}

void check_pack_args(const char* where, int64_t K, int64_t N, const int8_t* B, int64_t ld, int64_t min_ld,
                     const int8_t* packed) {
  check_non_negative(where, "K", K);
  check_non_negative(where, "N", N);
  if (K == 0 || N == 0) return;
  if (ld < min_ld) {
    fail_argument(where, "leading dimension " + std::to_string(ld) + " is smaller than " + std::to_string(min_ld));
  }
  check_not_null(where, "B", B);
  check_not_null(where, "packed", packed);
}

// 65536 * 255 * 128 < 2^31: a longer reduction could overflow the int32 sum
// (the converter refuses such layers, engine/QUANTIZED.md).
constexpr int64_t kMaxK = 65536;

void check_epilogue(const char* where, const QEpilogue& ep) {
  if (ep.i32_output) return;
  check_not_null(where, "ep.scale", ep.scale);
  if (ep.f32_output) return;
  if (ep.qmin < 0 || ep.qmin > ep.qmax || ep.qmax > 255) {
    fail_argument(where, "ep.qmin " + std::to_string(ep.qmin) + " / ep.qmax " + std::to_string(ep.qmax) +
                             " must satisfy 0 <= qmin <= qmax <= 255");
  }
  if (ep.zero_point < 0 || ep.zero_point > 255) {
    fail_argument(where, "ep.zero_point " + std::to_string(ep.zero_point) + " is not a uint8 value");
  }
}

void check_gemm_args(const char* where, const Q8GemmKernel& kernel, int64_t K, int64_t N, const uint8_t* A,
                     int64_t lda, const void* C, int64_t ldc, const QEpilogue& ep, Range rows, Range cols) {
  if (K > kMaxK) fail_argument(where, "K " + std::to_string(K) + " > " + std::to_string(kMaxK) + " may overflow int32");
  check_gemm_shape(where, kernel.name, kernel.tile_cols, K, N, A, lda, C, ldc, rows.begin, rows.end, cols.begin,
                   cols.end);
  if (rows.size() == 0 || cols.size() == 0) return;
  check_epilogue(where, ep);
}

}  // namespace

int64_t q8_packed_b_bytes(const Q8GemmKernel& k, int64_t K, int64_t N) {
  check_non_negative("q8_packed_b_bytes", "K", K);
  check_non_negative("q8_packed_b_bytes", "N", N);
  return round_up(K, 4) * round_up(N, k.tile_cols);
}

void q8_pack_b(const Q8GemmKernel& k, int64_t K, int64_t N, const int8_t* B, int64_t ldb, int8_t* packed,
               int32_t* col_sums) {
  check_pack_args("q8_pack_b", K, N, B, ldb, N, packed);
  if (N > 0 && K == 0 && col_sums != nullptr) std::memset(col_sums, 0, static_cast<size_t>(N) * sizeof(int32_t));
  if (K == 0 || N == 0) return;
  q8_pack_panels(k.tile_cols, K, N, B, ldb, 1, packed, col_sums);
}

void q8_pack_b_transposed(const Q8GemmKernel& k, int64_t K, int64_t N, const int8_t* Bt, int64_t ldbt,
                          int8_t* packed, int32_t* col_sums) {
  check_pack_args("q8_pack_b_transposed", K, N, Bt, ldbt, K, packed);
  if (N > 0 && K == 0 && col_sums != nullptr) std::memset(col_sums, 0, static_cast<size_t>(N) * sizeof(int32_t));
  if (K == 0 || N == 0) return;
  q8_pack_panels(k.tile_cols, K, N, Bt, 1, ldbt, packed, col_sums);
}

void q8_gemm_packed(const Q8GemmKernel& k, int64_t K, int64_t N, const uint8_t* A, int64_t lda,
                    const int8_t* packed_b, void* C, int64_t ldc, const QEpilogue& ep, Range rows, Range cols) {
  check_gemm_args("q8_gemm_packed", k, K, N, A, lda, C, ldc, ep, rows, cols);
  if (rows.size() == 0 || cols.size() == 0) return;
  check_not_null("q8_gemm_packed", "packed_b", packed_b);
  k.fn(K, A, lda, packed_b, C, ldc, ep, rows, cols);
}

// ---------------------------------------------------------------------------
// Convolution
// ---------------------------------------------------------------------------

namespace {

struct QGroupGemm {
  int64_t in_c;          // input channels per group
  int64_t out_c;         // output channels per group
  int64_t k;             // reduction length: kernel_h * kernel_w * in_c
  int64_t packed_bytes;  // one group's packed weights
};

QGroupGemm q8_group_gemm(const Q8GemmKernel& kernel, const Conv2dShape& s) {
  QGroupGemm g{};
  g.in_c = s.in_c / s.groups;
  g.out_c = s.out_c / s.groups;
  g.k = s.kernel_h * s.kernel_w * g.in_c;
  g.packed_bytes = q8_packed_b_bytes(kernel, g.k, g.out_c);
  return g;
}

void check_conv(const char* where, const Q8GemmKernel& kernel, const Conv2dShape& s) {
  validate(s);
  const int64_t k = q8_group_gemm(kernel, s).k;
  if (k > kMaxK) fail_argument(where, "reduction length " + std::to_string(k) + " > " + std::to_string(kMaxK));
}

bool q8_reads_input_directly(const Conv2dShape& s) {
  return s.kernel_h == 1 && s.kernel_w == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_top == 0 &&
         s.pad_left == 0 && s.pad_bottom == 0 && s.pad_right == 0;
}

// Output pixels per im2col block: about 64 KiB of A (L2-resident) but at
// least one micro-tile, in whole micro-tiles.
int64_t q8_im2col_block_rows(const Q8GemmKernel& kernel, const Conv2dShape& s) {
  constexpr int64_t kTargetBytes = 64 * 1024;
  const int64_t mr = kernel.tile_rows;
  const int64_t k = q8_group_gemm(kernel, s).k;
  int64_t rows = kTargetBytes / k / mr * mr;
  if (rows < mr) rows = mr;
  const int64_t pixels = s.out_pixels();
  return rows < pixels ? rows : pixels;
}

// Small copies and fills without a library call: a patch row is often a few
// bytes (the stem's 3x3 taps of 3 channels: 9), where memcpy / memset calls
// cost more than the copy (they took 80% of the stem convolution). Fixed-size
// memcpy compiles to plain loads and stores; the overlapping pieces stay inside
// [d, d + n) and [s, s + n).
inline void copy_bytes(uint8_t* d, const uint8_t* s, int64_t n) {
  if (n >= 16) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) std::memcpy(d + i, s + i, 16);
    if (i < n) std::memcpy(d + n - 16, s + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(d, s, 8);
    std::memcpy(d + n - 8, s + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(d, s, 4);
    std::memcpy(d + n - 4, s + n - 4, 4);
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] = s[i];
  }
}

inline void fill_bytes(uint8_t* d, uint8_t v, int64_t n) {
  const uint64_t v8 = uint64_t{v} * 0x0101010101010101ull;
  if (n >= 8) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) std::memcpy(d + i, &v8, 8);
    if (i < n) std::memcpy(d + n - 8, &v8, 8);
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] = v;
  }
}

// As f32_conv.cpp's im2col, in bytes, with pad_value for the padding. Walks
// the output row by row so that the kernel rows' pointers and the interior
// columns (whole window inside the input width) are found once per row; an
// interior pixel of a dense convolution is then kernel_h plain copies of
// kernel_w * cin contiguous bytes.
void q8_im2col(const Conv2dShape& s, const QGroupGemm& gg, int64_t g, const uint8_t* input, uint8_t pad_value,
               int64_t m0, int64_t m1, uint8_t* out) {
  const int64_t out_h = s.out_h(), out_w = s.out_w();
  const int64_t plane = out_h * out_w;
  const int64_t cin = gg.in_c;
  const int64_t seg = s.kernel_w * cin;
  const bool contiguous_taps = s.groups == 1 && s.dilation_w == 1;
  // Interior columns: wo * stride_w - pad_left >= 0 and the last tap < in_w.
  const int64_t span = s.dilation_w * (s.kernel_w - 1);
  int64_t int_begin = (s.pad_left + s.stride_w - 1) / s.stride_w;
  const int64_t last_ok = s.in_w - 1 - span + s.pad_left;
  int64_t int_end = last_ok < 0 ? 0 : last_ok / s.stride_w + 1;
  if (int_end > out_w) int_end = out_w;
  if (int_begin > int_end) int_begin = int_end;
  std::vector<const uint8_t*> rowp(static_cast<size_t>(s.kernel_h));

  uint8_t* dst = out;
  for (int64_t m = m0; m < m1;) {
    const int64_t n = m / plane;
    const int64_t ho = (m % plane) / out_w;
    const int64_t wo_begin = m % out_w;
    const int64_t wo_end = wo_begin + (m1 - m) < out_w ? wo_begin + (m1 - m) : out_w;
    for (int64_t i = 0; i < s.kernel_h; ++i) {
      const int64_t hi = ho * s.stride_h - s.pad_top + i * s.dilation_h;
      rowp[static_cast<size_t>(i)] =
          hi < 0 || hi >= s.in_h ? nullptr : input + (n * s.in_h + hi) * s.in_w * s.in_c + g * cin;
    }
    for (int64_t wo = wo_begin; wo < wo_end; ++wo, dst += gg.k) {
      const int64_t wi0 = wo * s.stride_w - s.pad_left;
      const bool interior = wo >= int_begin && wo < int_end;
      for (int64_t i = 0; i < s.kernel_h; ++i) {
        const uint8_t* irow = rowp[static_cast<size_t>(i)];
        uint8_t* drow = dst + i * seg;
        if (irow == nullptr) {
          fill_bytes(drow, pad_value, seg);
        } else if (contiguous_taps && interior) {
          copy_bytes(drow, irow + wi0 * s.in_c, seg);
        } else if (contiguous_taps) {
          const int64_t j0 = wi0 < 0 ? -wi0 : 0;
          int64_t j1 = s.in_w - wi0;
          if (j1 > s.kernel_w) j1 = s.kernel_w;
          if (j1 < j0) j1 = j0;
          fill_bytes(drow, pad_value, j0 * cin);
          copy_bytes(drow + j0 * cin, irow + (wi0 + j0) * s.in_c, (j1 - j0) * cin);
          fill_bytes(drow + j1 * cin, pad_value, (s.kernel_w - j1) * cin);
        } else {
          for (int64_t j = 0; j < s.kernel_w; ++j) {
            const int64_t wi = wi0 + j * s.dilation_w;
            if (wi < 0 || wi >= s.in_w) {
              fill_bytes(drow + j * cin, pad_value, cin);
            } else {
              copy_bytes(drow + j * cin, irow + wi * s.in_c, cin);
            }
          }
        }
      }
    }
    m += wo_end - wo_begin;
  }
}

}  // namespace

int64_t q8_conv2d_packed_weight_bytes(const Q8GemmKernel& k, const Conv2dShape& s) {
  check_conv("q8_conv2d_packed_weight_bytes", k, s);
  return s.groups * q8_group_gemm(k, s).packed_bytes;
}

void q8_conv2d_pack_weights(const Q8GemmKernel& k, const Conv2dShape& s, const int8_t* w_oihw, int8_t* packed,
                            int32_t* col_sums) {
  const char* where = "q8_conv2d_pack_weights";
  check_conv(where, k, s);
  check_not_null(where, "w_oihw", w_oihw);
  check_not_null(where, "packed", packed);
  const QGroupGemm gg = q8_group_gemm(k, s);
  const int64_t taps = s.kernel_h * s.kernel_w;
  // One group's OIHW weights as [out, (kh, kw, in)] = B transposed, im2col's column order.
  std::vector<int8_t> bt(static_cast<size_t>(gg.out_c * gg.k));
  for (int64_t g = 0; g < s.groups; ++g) {
    for (int64_t o = 0; o < gg.out_c; ++o) {
      const int8_t* src = w_oihw + (g * gg.out_c + o) * gg.in_c * taps;
      for (int64_t c = 0; c < gg.in_c; ++c) {
        for (int64_t t = 0; t < taps; ++t) bt[static_cast<size_t>(o * gg.k + t * gg.in_c + c)] = src[c * taps + t];
      }
    }
    q8_pack_b_transposed(k, gg.k, gg.out_c, bt.data(), gg.k, packed + g * gg.packed_bytes,
                         col_sums == nullptr ? nullptr : col_sums + g * gg.out_c);
  }
}

int64_t q8_conv2d_scratch_bytes(const Q8GemmKernel& k, const Conv2dShape& s) {
  check_conv("q8_conv2d_scratch_bytes", k, s);
  if (q8_reads_input_directly(s)) return 0;
  return q8_im2col_block_rows(k, s) * q8_group_gemm(k, s).k;
}

void q8_conv2d(const Q8GemmKernel& k, const Conv2dShape& s, const uint8_t* input, uint8_t pad_value,
               const int8_t* packed_w, uint8_t* output, const QEpilogue& ep, Range pixels, uint8_t* scratch) {
  const char* where = "q8_conv2d";
  check_conv(where, k, s);
  check_range(where, "pixels", pixels.begin, pixels.end, s.out_pixels());
  if (pixels.size() == 0) return;
  check_not_null(where, "input", input);
  check_not_null(where, "packed_w", packed_w);
  check_not_null(where, "output", output);
  check_epilogue(where, ep);
  if (ep.f32_output) fail_argument(where, "ep.f32_output: a convolution writes uint8");
  const QGroupGemm gg = q8_group_gemm(k, s);
  const auto group_epilogue = [&](int64_t g) {
    QEpilogue e = ep;
    if (ep.bias != nullptr) e.bias = ep.bias + g * gg.out_c;
    e.scale = ep.scale + g * gg.out_c;
    return e;
  };

  if (q8_reads_input_directly(s)) {
    for (int64_t g = 0; g < s.groups; ++g) {
      const QEpilogue e = group_epilogue(g);
      k.fn(gg.k, input + g * gg.in_c, s.in_c, packed_w + g * gg.packed_bytes, output + g * gg.out_c, s.out_c, e,
           pixels, {0, gg.out_c});
    }
    return;
  }

  check_not_null(where, "scratch", scratch);
  const int64_t block = q8_im2col_block_rows(k, s);
  for (int64_t m0 = pixels.begin; m0 < pixels.end; m0 += block) {
    const int64_t m1 = m0 + block < pixels.end ? m0 + block : pixels.end;
    for (int64_t g = 0; g < s.groups; ++g) {
      q8_im2col(s, gg, g, input, pad_value, m0, m1, scratch);
      const QEpilogue e = group_epilogue(g);
      k.fn(gg.k, scratch, gg.k, packed_w + g * gg.packed_bytes, output + m0 * s.out_c + g * gg.out_c, s.out_c, e,
           {0, m1 - m0}, {0, gg.out_c});
    }
  }
}

}  // namespace slim::kernels
