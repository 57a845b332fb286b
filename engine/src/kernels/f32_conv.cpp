// Dense and grouped NHWC convolution lowered to the chosen f32_gemm variant:
// the output pixels are the GEMM rows, (kernel_h, kernel_w, in_c / groups) the
// reduction, output channels of a group the columns. Also Conv2dShape itself.
#include <cstring>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "kernels/kernels.h"

namespace slim::kernels {

int64_t Conv2dShape::out_h() const {
  return (in_h + pad_top + pad_bottom - dilation_h * (kernel_h - 1) - 1) / stride_h + 1;
}
int64_t Conv2dShape::out_w() const {
  return (in_w + pad_left + pad_right - dilation_w * (kernel_w - 1) - 1) / stride_w + 1;
}
int64_t Conv2dShape::out_pixels() const { return batch * out_h() * out_w(); }
int64_t Conv2dShape::out_rows() const { return batch * out_h(); }
bool Conv2dShape::is_depthwise() const { return groups == in_c && groups == out_c; }

void validate(const Conv2dShape& s) {
  const char* where = "Conv2dShape";
  check_positive(where, "batch", s.batch);
  check_positive(where, "in_h", s.in_h);
  check_positive(where, "in_w", s.in_w);
  check_positive(where, "in_c", s.in_c);
  check_positive(where, "out_c", s.out_c);
  check_positive(where, "kernel_h", s.kernel_h);
  check_positive(where, "kernel_w", s.kernel_w);
  check_positive(where, "stride_h", s.stride_h);
  check_positive(where, "stride_w", s.stride_w);
  check_positive(where, "dilation_h", s.dilation_h);
  check_positive(where, "dilation_w", s.dilation_w);
  check_positive(where, "groups", s.groups);
  check_non_negative(where, "pad_top", s.pad_top);
  check_non_negative(where, "pad_left", s.pad_left);
  check_non_negative(where, "pad_bottom", s.pad_bottom);
  check_non_negative(where, "pad_right", s.pad_right);
  if (s.in_c % s.groups != 0 || s.out_c % s.groups != 0) {
    fail_argument(where, "in_c " + std::to_string(s.in_c) + " and out_c " + std::to_string(s.out_c) +
                             " must both be divisible by groups " + std::to_string(s.groups));
  }
  if (s.in_h + s.pad_top + s.pad_bottom < s.dilation_h * (s.kernel_h - 1) + 1) {
    fail_argument(where, "padded input height is smaller than the dilated kernel height");
  }
  if (s.in_w + s.pad_left + s.pad_right < s.dilation_w * (s.kernel_w - 1) + 1) {
    fail_argument(where, "padded input width is smaller than the dilated kernel width");
  }
}

namespace {

struct GroupGemm {
  int64_t in_c;   // input channels per group
  int64_t out_c;  // output channels per group
  int64_t k;      // reduction length: kernel_h * kernel_w * in_c
  int64_t packed_floats;  // one group's packed weights
};

GroupGemm group_gemm(const F32GemmKernel& kernel, const Conv2dShape& s) {
  GroupGemm g{};
  g.in_c = s.in_c / s.groups;
  g.out_c = s.out_c / s.groups;
  g.k = s.kernel_h * s.kernel_w * g.in_c;
  g.packed_floats = packed_b_floats(kernel, g.k, g.out_c);
  return g;
}

// The input is already the GEMM's A matrix (pixels x channels).
bool reads_input_directly(const Conv2dShape& s) {
  return s.kernel_h == 1 && s.kernel_w == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_top == 0 &&
         s.pad_left == 0 && s.pad_bottom == 0 && s.pad_right == 0;
}

// Stems (3 input channels, a few output channels, large images): a kernel
// row's taps are one short contiguous run of the NHWC input, so the input
// itself serves as the GEMM's A for that row, with lda = stride * channels;
// the kernel rows are summed by successive GEMM calls. im2col would copy
// kernel_h * kernel_w * in_c floats per output pixel for a GEMM too small to
// hide it. The weights are packed one kernel row at a time whatever the
// image size (a session may see several), and narrow outputs, where an
// output row's interior is too short for whole micro-tiles, go through
// im2col but still sum the kernel rows' GEMMs.
bool packs_by_kernel_rows(const Conv2dShape& s) {
  return s.groups == 1 && s.dilation_w == 1 && !reads_input_directly(s) && s.kernel_w * s.in_c <= 64;
}
bool reads_input_by_kernel_rows(const Conv2dShape& s) { return packs_by_kernel_rows(s) && s.out_w() >= 16; }

// Output pixels per im2col block: about 32K floats (128 KiB, an L2-resident A
// block) but at least one micro-tile, in whole micro-tiles.
int64_t im2col_block_rows(const F32GemmKernel& kernel, const Conv2dShape& s) {
  constexpr int64_t kTargetFloats = 32 * 1024;
  const int64_t mr = kernel.tile_rows;
  const int64_t k = group_gemm(kernel, s).k;
  int64_t rows = kTargetFloats / k / mr * mr;
  if (rows < mr) rows = mr;
  const int64_t pixels = s.out_pixels();
  return rows < pixels ? rows : pixels;
}

// Rows [m0, m1) of group g's A matrix: for each output pixel its receptive
// field as (kh, kw, channel) with zeros for padding. With one group and unit
// dilation a kernel row's taps are contiguous in NHWC memory, so the in-image
// part of each kernel row is a single copy (the 3-channel stem would otherwise
// make one 12-byte copy per tap).
// Short copies and fills (a stem's 9-float kernel rows) as fixed-size moves:
// a libc call per kernel row would cost more than the row itself.
inline void copy_floats(float* d, const float* src, int64_t n) {
  if (n > 64) {
    std::memcpy(d, src, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  for (; n >= 4; n -= 4, d += 4, src += 4) __builtin_memcpy(d, src, 4 * sizeof(float));
  for (; n > 0; --n) *d++ = *src++;
}

inline void zero_floats(float* d, int64_t n) {
  if (n > 64) {
    std::memset(d, 0, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  constexpr float kZeros[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (; n >= 4; n -= 4, d += 4) __builtin_memcpy(d, kZeros, sizeof(kZeros));
  for (; n > 0; --n) *d++ = 0.0f;
}

void im2col(const Conv2dShape& s, const GroupGemm& gg, int64_t g, const float* input, int64_t m0, int64_t m1,
            float* out) {
  const int64_t out_h = s.out_h(), out_w = s.out_w();
  const int64_t plane = out_h * out_w;
  const int64_t cin = gg.in_c;
  const bool contiguous_taps = s.groups == 1 && s.dilation_w == 1;
  // The pixel's (image, row, column), advanced with m instead of divided out of it.
  int64_t n = m0 / plane, ho = (m0 % plane) / out_w, wo = m0 % out_w;
  for (int64_t m = m0; m < m1; ++m) {
    float* dst = out + (m - m0) * gg.k;
    const int64_t wi0 = wo * s.stride_w - s.pad_left;
    for (int64_t i = 0; i < s.kernel_h; ++i) {
      const int64_t hi = ho * s.stride_h - s.pad_top + i * s.dilation_h;
      float* drow = dst + i * s.kernel_w * cin;
      if (hi < 0 || hi >= s.in_h) {
        zero_floats(drow, s.kernel_w * cin);
        continue;
      }
      const float* irow = input + (n * s.in_h + hi) * s.in_w * s.in_c + g * cin;
      if (contiguous_taps) {
        // Taps [j0, j1) are inside the row; the rest is padding.
        const int64_t j0 = wi0 < 0 ? -wi0 : 0;
        int64_t j1 = s.in_w - wi0;
        if (j1 > s.kernel_w) j1 = s.kernel_w;
        if (j1 < j0) j1 = j0;
        zero_floats(drow, j0 * cin);
        copy_floats(drow + j0 * cin, irow + (wi0 + j0) * s.in_c, (j1 - j0) * cin);
        zero_floats(drow + j1 * cin, (s.kernel_w - j1) * cin);
        continue;
      }
      for (int64_t j = 0; j < s.kernel_w; ++j) {
        const int64_t wi = wi0 + j * s.dilation_w;
        if (wi < 0 || wi >= s.in_w) {
          zero_floats(drow + j * cin, cin);
        } else {
          copy_floats(drow + j * cin, irow + wi * s.in_c, cin);
        }
      }
    }
    if (++wo == out_w) {
      wo = 0;
      if (++ho == out_h) {
        ho = 0;
        ++n;
      }
    }
  }
}

// Sums the kernel rows' GEMMs into C for `count` output pixels: rows[i] is
// kernel row i's A (nullptr: that row lies in the padding and adds nothing).
// The first call starts from the bias, the last applies the activation.
void gemm_kernel_rows(const F32GemmKernel& k, const Conv2dShape& s, const float* const* rows, int64_t lda,
                      const float* packed_w, float* c, int64_t count, const Epilogue& ep) {
  const int64_t kr = s.kernel_w * s.in_c;
  const int64_t row_floats = packed_b_floats(k, kr, s.out_c);
  int64_t last = -1, first = -1;
  for (int64_t i = 0; i < s.kernel_h; ++i) {
    if (rows[i] == nullptr) continue;
    if (first < 0) first = i;
    last = i;
  }
  if (first < 0) {  // every tap in the padding: bias and activation of a zero sum
    k.fn(0, nullptr, 0, packed_w, c, s.out_c, ep, {0, count}, {0, s.out_c});
    return;
  }
  for (int64_t i = first; i <= last; ++i) {
    if (rows[i] == nullptr) continue;
    Epilogue e;
    e.bias = i == first ? ep.bias : nullptr;
    e.accumulate = i == first ? ep.accumulate : true;
    e.act = i == last ? ep.act : Activation::none();
    k.fn(kr, rows[i], lda, packed_w + i * row_floats, c, s.out_c, e, {0, count}, {0, s.out_c});
  }
}

void conv2d_by_kernel_rows(const F32GemmKernel& k, const Conv2dShape& s, const float* input, const float* packed_w,
                           float* output, const Epilogue& ep, Range pixels, float* scratch) {
  const int64_t out_h = s.out_h(), out_w = s.out_w();
  const int64_t kr = s.kernel_w * s.in_c, k_all = s.kernel_h * kr;
  const GroupGemm gg{s.in_c, s.out_c, k_all, 0};
  // Output columns [w_lo, w_hi) see no horizontal padding.
  int64_t w_lo = (s.pad_left + s.stride_w - 1) / s.stride_w;
  int64_t w_hi = s.in_w + s.pad_left - s.kernel_w < 0 ? 0 : (s.in_w + s.pad_left - s.kernel_w) / s.stride_w + 1;
  if (w_hi > out_w) w_hi = out_w;
  if (w_lo > w_hi) w_lo = w_hi;
  const int64_t block = im2col_block_rows(k, s);
  std::vector<const float*> rows(static_cast<size_t>(s.kernel_h));
  // Edge pixels [m0, m1) go through im2col, whose rows hold every kernel row.
  const auto edge = [&](int64_t m0, int64_t m1) {
    for (int64_t b0 = m0; b0 < m1; b0 += block) {
      const int64_t b1 = b0 + block < m1 ? b0 + block : m1;
      im2col(s, gg, 0, input, b0, b1, scratch);
      for (int64_t i = 0; i < s.kernel_h; ++i) rows[static_cast<size_t>(i)] = scratch + i * kr;
      gemm_kernel_rows(k, s, rows.data(), k_all, packed_w, output + b0 * s.out_c, b1 - b0, ep);
    }
  };
  if (!reads_input_by_kernel_rows(s)) return edge(pixels.begin, pixels.end);
  for (int64_t m = pixels.begin; m < pixels.end;) {
    const int64_t n = m / (out_h * out_w), ho = (m / out_w) % out_h, wo = m % out_w;
    const int64_t row_end = m - wo + out_w < pixels.end ? m - wo + out_w : pixels.end;  // this output row's part
    const int64_t a = m - wo + (w_lo > wo ? w_lo : wo);
    const int64_t b = m - wo + w_hi < row_end ? m - wo + w_hi : row_end;
    if (a >= b) {
      edge(m, row_end);
      m = row_end;
      continue;
    }
    if (a > m) edge(m, a);
    const int64_t wi0 = (a - (m - wo)) * s.stride_w - s.pad_left;
    for (int64_t i = 0; i < s.kernel_h; ++i) {
      const int64_t hi = ho * s.stride_h - s.pad_top + i * s.dilation_h;
      rows[static_cast<size_t>(i)] =
          hi < 0 || hi >= s.in_h ? nullptr : input + ((n * s.in_h + hi) * s.in_w + wi0) * s.in_c;
    }
    gemm_kernel_rows(k, s, rows.data(), s.stride_w * s.in_c, packed_w, output + a * s.out_c, b - a, ep);
    if (b < row_end) edge(b, row_end);
    m = row_end;
  }
}

}  // namespace

int64_t conv2d_packed_weight_floats(const F32GemmKernel& k, const Conv2dShape& s) {
  validate(s);
  return s.groups * group_gemm(k, s).packed_floats;
}

void conv2d_pack_weights(const F32GemmKernel& k, const Conv2dShape& s, const float* w_oihw, float* packed) {
  validate(s);
  check_not_null("conv2d_pack_weights", "w_oihw", w_oihw);
  check_not_null("conv2d_pack_weights", "packed", packed);
  const GroupGemm gg = group_gemm(k, s);
  const int64_t taps = s.kernel_h * s.kernel_w;
  if (taps == 1) {
    // [out, in] is already B transposed: packed straight from the weights, no reordered copy
    for (int64_t g = 0; g < s.groups; ++g)
      pack_b_transposed(k, gg.k, gg.out_c, w_oihw + g * gg.out_c * gg.in_c, gg.k, packed + g * gg.packed_floats);
    return;
  }
  // Reorder one group's OIHW weights to [out, (kh, kw, in)] = B transposed,
  // matching im2col's column order, then pack that.
  std::vector<float> bt(static_cast<size_t>(gg.out_c * gg.k));
  if (packs_by_kernel_rows(s)) {
    // One packed B per kernel row, [kernel_w * in_c, out_c] each, back to back
    // (the same total as one [k, out_c] matrix: packed size is linear in K).
    const int64_t kr = s.kernel_w * s.in_c;
    const int64_t row_floats = packed_b_floats(k, kr, s.out_c);
    for (int64_t i = 0; i < s.kernel_h; ++i) {
      for (int64_t o = 0; o < s.out_c; ++o) {
        const float* src = w_oihw + o * s.in_c * taps;
        for (int64_t c = 0; c < s.in_c; ++c) {
          for (int64_t j = 0; j < s.kernel_w; ++j) {
            bt[static_cast<size_t>(o * kr + j * s.in_c + c)] = src[c * taps + i * s.kernel_w + j];
          }
        }
      }
      pack_b_transposed(k, kr, s.out_c, bt.data(), kr, packed + i * row_floats);
    }
    return;
  }
  for (int64_t g = 0; g < s.groups; ++g) {
    for (int64_t o = 0; o < gg.out_c; ++o) {
      const float* src = w_oihw + (g * gg.out_c + o) * gg.in_c * taps;
      for (int64_t c = 0; c < gg.in_c; ++c) {
        for (int64_t t = 0; t < taps; ++t) bt[static_cast<size_t>(o * gg.k + t * gg.in_c + c)] = src[c * taps + t];
      }
    }
    pack_b_transposed(k, gg.k, gg.out_c, bt.data(), gg.k, packed + g * gg.packed_floats);
  }
}

int64_t conv2d_scratch_floats(const F32GemmKernel& k, const Conv2dShape& s) {
  validate(s);
  if (reads_input_directly(s)) return 0;
  return im2col_block_rows(k, s) * group_gemm(k, s).k;
}

void conv2d(const F32GemmKernel& k, const Conv2dShape& s, const float* input, const float* packed_w, float* output,
            const Epilogue& ep, Range pixels, float* scratch) {
  const char* where = "conv2d";
  validate(s);
  check_range(where, "pixels", pixels.begin, pixels.end, s.out_pixels());
  if (pixels.size() == 0) return;
  check_not_null(where, "input", input);
  check_not_null(where, "packed_w", packed_w);
  check_not_null(where, "output", output);
  const GroupGemm gg = group_gemm(k, s);
  const auto group_epilogue = [&](int64_t g) {
    Epilogue e = ep;
    if (ep.bias != nullptr) e.bias = ep.bias + g * gg.out_c;
    return e;
  };

  if (reads_input_directly(s)) {
    for (int64_t g = 0; g < s.groups; ++g) {
      k.fn(gg.k, input + g * gg.in_c, s.in_c, packed_w + g * gg.packed_floats, output + g * gg.out_c,
                         s.out_c, group_epilogue(g), pixels, {0, gg.out_c});
    }
    return;
  }

  check_not_null(where, "scratch", scratch);
  if (packs_by_kernel_rows(s)) return conv2d_by_kernel_rows(k, s, input, packed_w, output, ep, pixels, scratch);
  const int64_t block = im2col_block_rows(k, s);
  for (int64_t m0 = pixels.begin; m0 < pixels.end; m0 += block) {
    const int64_t m1 = m0 + block < pixels.end ? m0 + block : pixels.end;
    for (int64_t g = 0; g < s.groups; ++g) {
      im2col(s, gg, g, input, m0, m1, scratch);
      k.fn(gg.k, scratch, gg.k, packed_w + g * gg.packed_floats, output + m0 * s.out_c + g * gg.out_c,
                         s.out_c, group_epilogue(g), {0, m1 - m0}, {0, gg.out_c});
    }
  }
}

}  // namespace slim::kernels
