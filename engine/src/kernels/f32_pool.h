// The pooling kernels (f32_maxpool, f32_avgpool, f32_gavgpool, f32_gmaxpool):
// NHWC, generic over vector traits V, channels as the vector dimension.
// Include only from a per-ISA translation unit, after its traits header.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/simd/math.h"

namespace slim::kernels {

struct PoolMax {
  template <class V>
  static typename V::reg init() { return V::set1(-HUGE_VALF); }
  template <class V>
  static typename V::reg combine(typename V::reg acc, typename V::reg x) { return V::max_nan(acc, x); }
};

struct PoolSum {
  template <class V>
  static typename V::reg init() { return V::zero(); }
  template <class V>
  static typename V::reg combine(typename V::reg acc, typename V::reg x) { return V::add(acc, x); }
};

// First and one-past-last kernel tap whose input coordinate start + t * dilation
// lies in [lo, hi). A template on V only to give each ISA its own symbol.
template <class V>
void pool_tap_range(int64_t start, int64_t kernel, int64_t dilation, int64_t lo, int64_t hi, int64_t* t0,
                    int64_t* t1) {
  int64_t a = 0;
  if (start < lo) a = (lo - start + dilation - 1) / dilation;
  int64_t b = kernel;
  if (start + (kernel - 1) * dilation >= hi) b = hi - start <= 0 ? 0 : (hi - start - 1) / dilation + 1;
  if (b < a) b = a;
  *t0 = a;
  *t1 = b;
}

template <class V, class Op, bool kAverage>
void pool_rows(const Pool2dShape& s, const float* input, float* output, Range rows) {
  using R = typename V::reg;
  constexpr int W = V::kWidth;
  const int64_t out_h = s.out_h(), out_w = s.out_w(), C = s.channels;
  for (int64_t r = rows.begin; r < rows.end; ++r) {
    const int64_t n = r / out_h, ho = r % out_h;
    const float* image = input + n * s.in_h * s.in_w * C;
    const int64_t hs = ho * s.stride_h - s.pad_top;
    int64_t i0, i1;
    pool_tap_range<V>(hs, s.kernel_h, s.dilation_h, 0, s.in_h, &i0, &i1);
    int64_t pi0 = 0, pi1 = 0;  // taps inside the padded extent, for count_include_pad
    pool_tap_range<V>(hs, s.kernel_h, s.dilation_h, -s.pad_top, s.in_h + s.pad_bottom, &pi0, &pi1);
    for (int64_t wo = 0; wo < out_w; ++wo) {
      const int64_t ws = wo * s.stride_w - s.pad_left;
      int64_t j0, j1;
      pool_tap_range<V>(ws, s.kernel_w, s.dilation_w, 0, s.in_w, &j0, &j1);
      float* out = output + (r * out_w + wo) * C;
      R scale = V::zero();
      if constexpr (kAverage) {
        int64_t count = (i1 - i0) * (j1 - j0);
        if (s.count_include_pad) {
          int64_t pj0 = 0, pj1 = 0;
          pool_tap_range<V>(ws, s.kernel_w, s.dilation_w, -s.pad_left, s.in_w + s.pad_right, &pj0, &pj1);
          count = (pi1 - pi0) * (pj1 - pj0);
        }
        scale = V::set1(count > 0 ? 1.0f / static_cast<float>(count) : 0.0f);
      }
      for (int64_t c0 = 0; c0 < C; c0 += W) {
        const int lanes = static_cast<int>(C - c0 < W ? C - c0 : W);
        const bool full = lanes == W;
        R acc = Op::template init<V>();
        for (int64_t i = i0; i < i1; ++i) {
          const float* row = image + (hs + i * s.dilation_h) * s.in_w * C + c0;
          for (int64_t j = j0; j < j1; ++j) {
            const float* p = row + (ws + j * s.dilation_w) * C;
            acc = Op::template combine<V>(acc, full ? V::load(p) : V::load_partial(p, lanes));
          }
        }
        if constexpr (kAverage) acc = V::mul(acc, scale);
        if (full) {
          V::store(out + c0, acc);
        } else {
          V::store_partial(out + c0, acc, lanes);
        }
      }
    }
  }
}

template <class V>
void max_pool_impl(const Pool2dShape& s, const float* input, float* output, Range rows) {
  pool_rows<V, PoolMax, false>(s, input, output, rows);
}

template <class V>
void avg_pool_impl(const Pool2dShape& s, const float* input, float* output, Range rows) {
  pool_rows<V, PoolSum, true>(s, input, output, rows);
}

// Vectors per step of the global pools: the adds (or maxes) of consecutive
// pixels then do not wait on each other.
constexpr int kGlobalPoolVectors = 4;

// Combines a block of channels over all pixels, then scales (average).
template <class V, class Op, bool kAverage>
void global_pool(int64_t batch, int64_t pixels, int64_t channels, const float* input, float* output,
                 Range channel_range) {
  using R = typename V::reg;
  constexpr int W = V::kWidth;
  constexpr int kBlock = kGlobalPoolVectors;
  const R scale = V::set1(1.0f / static_cast<float>(pixels));
  for (int64_t n = 0; n < batch; ++n) {
    const float* image = input + n * pixels * channels;
    float* out = output + n * channels;
    int64_t c = channel_range.begin;
    for (; c + kBlock * W <= channel_range.end; c += kBlock * W) {
      R acc[kBlock];
      SLIM_UNROLL for (int b = 0; b < kBlock; ++b) acc[b] = Op::template init<V>();
      for (int64_t p = 0; p < pixels; ++p) {
        SLIM_UNROLL for (int b = 0; b < kBlock; ++b) {
          acc[b] = Op::template combine<V>(acc[b], V::load(image + p * channels + c + b * W));
        }
      }
      SLIM_UNROLL for (int b = 0; b < kBlock; ++b) {
        V::store(out + c + b * W, kAverage ? V::mul(acc[b], scale) : acc[b]);
      }
    }
    for (; c < channel_range.end; c += W) {
      const int lanes = static_cast<int>(channel_range.end - c < W ? channel_range.end - c : W);
      R acc = Op::template init<V>();
      for (int64_t p = 0; p < pixels; ++p) {
        acc = Op::template combine<V>(acc, V::load_partial(image + p * channels + c, lanes));
      }
      V::store_partial(out + c, kAverage ? V::mul(acc, scale) : acc, lanes);
    }
  }
}

template <class V>
void global_avg_pool_impl(int64_t batch, int64_t pixels, int64_t channels, const float* input, float* output,
                          Range channel_range) {
  global_pool<V, PoolSum, true>(batch, pixels, channels, input, output, channel_range);
}

template <class V>
void global_max_pool_impl(int64_t batch, int64_t pixels, int64_t channels, const float* input, float* output,
                          Range channel_range) {
  global_pool<V, PoolMax, false>(batch, pixels, channels, input, output, channel_range);
}

// One channel vector per step (the name's <width>c); the global pools four.
template <class V>
constexpr F32MaxPoolKernel maxpool_kernel(const char* name) {
  return {name, V::kIsa, 1, V::kWidth, &max_pool_impl<V>};
}
template <class V>
constexpr F32AvgPoolKernel avgpool_kernel(const char* name) {
  return {name, V::kIsa, 1, V::kWidth, &avg_pool_impl<V>};
}
template <class V>
constexpr F32GlobalAvgPoolKernel gavgpool_kernel(const char* name) {
  return {name, V::kIsa, 1, kGlobalPoolVectors * V::kWidth, &global_avg_pool_impl<V>};
}
template <class V>
constexpr F32GlobalMaxPoolKernel gmaxpool_kernel(const char* name) {
  return {name, V::kIsa, 1, kGlobalPoolVectors * V::kWidth, &global_max_pool_impl<V>};
}

}  // namespace slim::kernels
