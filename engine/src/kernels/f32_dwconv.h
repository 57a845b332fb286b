// The f32_dwconv kernel: direct NHWC depthwise convolution, generic over
// vector traits V. Channels are the vector dimension, so every tap is one
// multiply-add of a channel vector. Include only from a per-ISA translation
// unit, after its traits header.
#pragma once

#include <cstdint>

#include "kernels/f32_vact.h"
#include "kernels/kernels.h"

namespace slim::kernels {

// Output columns whose whole receptive field lies inside the input row, so the
// per-tap bounds checks can be skipped there.
struct InteriorColumns {
  int64_t begin;
  int64_t end;
};

// A template (though V is unused) so each ISA gets its own symbol.
template <class V>
InteriorColumns depthwise_interior(const Conv2dShape& s, int64_t out_w) {
  const int64_t span = s.dilation_w * (s.kernel_w - 1);
  int64_t begin = (s.pad_left + s.stride_w - 1) / s.stride_w;
  const int64_t last_ok = s.in_w - 1 - span + s.pad_left;  // wo * stride <= last_ok
  int64_t end = last_ok < 0 ? 0 : last_ok / s.stride_w + 1;
  if (end > out_w) end = out_w;
  if (begin > end) begin = end;
  return {begin, end};
}

// One channel block [c0, c0 + lanes) of one output row. kKh/kKw > 0: kernel
// size known at compile time (taps unrolled, dilation 1); 0: read from the shape.
template <class V, int kKh, int kKw, bool kTail>
void depthwise_row_block(const Conv2dShape& s, const float* in_image, const float* w, const float* bias,
                         float* out_row, int64_t ho, int64_t out_w, InteriorColumns interior, int64_t c0,
                         int lanes) {
  using R = typename V::reg;
  constexpr bool kFixed = kKh > 0;
  const int64_t C = s.in_c;
  const auto load = [lanes](const float* p) { return kTail ? V::load_partial(p, lanes) : V::load(p); };

  const R b = bias == nullptr ? V::zero() : load(bias + c0);
  // Fixed-size kernels keep their taps' weights in registers across the row.
  constexpr int kTaps = kFixed ? kKh * kKw : 1;
  [[maybe_unused]] R wv[kTaps];
  if constexpr (kFixed) {
    SLIM_UNROLL for (int t = 0; t < kTaps; ++t) wv[t] = load(w + t * C + c0);
  }
  // Input rows of this output row that exist; missing (padding) rows contribute zero.
  const int64_t hi0 = ho * s.stride_h - s.pad_top;

  const auto pixel = [&](int64_t wo, bool check_w) {
    R acc = b;
    const int64_t wi0 = wo * s.stride_w - s.pad_left;
    if constexpr (kFixed) {
      SLIM_UNROLL for (int i = 0; i < kKh; ++i) {
        const int64_t hi = hi0 + i;
        if (hi < 0 || hi >= s.in_h) continue;
        const float* irow = in_image + hi * s.in_w * C + c0;
        SLIM_UNROLL for (int j = 0; j < kKw; ++j) {
          const int64_t wi = wi0 + j;
          if (check_w && (wi < 0 || wi >= s.in_w)) continue;
          acc = V::fmadd(load(irow + wi * C), wv[i * kKw + j], acc);
        }
      }
    } else {
      const int64_t kh = s.kernel_h, kw = s.kernel_w, dh = s.dilation_h, dw = s.dilation_w;
      for (int64_t i = 0; i < kh; ++i) {
        const int64_t hi = hi0 + i * dh;
        if (hi < 0 || hi >= s.in_h) continue;
        const float* irow = in_image + hi * s.in_w * C + c0;
        for (int64_t j = 0; j < kw; ++j) {
          const int64_t wi = wi0 + j * dw;
          if (check_w && (wi < 0 || wi >= s.in_w)) continue;
          acc = V::fmadd(load(irow + wi * C), load(w + (i * kw + j) * C + c0), acc);
        }
      }
    }
    if (kTail) {
      V::store_partial(out_row + wo * C + c0, acc, lanes);
    } else {
      V::store(out_row + wo * C + c0, acc);
    }
  };

  for (int64_t wo = 0; wo < interior.begin; ++wo) pixel(wo, true);
  for (int64_t wo = interior.begin; wo < interior.end; ++wo) pixel(wo, false);
  for (int64_t wo = interior.end; wo < out_w; ++wo) pixel(wo, true);
}

template <class V, int kKh, int kKw>
void depthwise_rows(const Conv2dShape& s, const float* input, const float* w, float* output,
                    const Epilogue& ep, Range rows) {
  constexpr int W = V::kWidth;
  const int64_t out_h = s.out_h();
  const int64_t out_w = s.out_w();
  const int64_t C = s.in_c;
  const InteriorColumns interior = depthwise_interior<V>(s, out_w);
  for (int64_t r = rows.begin; r < rows.end; ++r) {
    const int64_t n = r / out_h;
    const int64_t ho = r % out_h;
    const float* in_image = input + n * s.in_h * s.in_w * C;
    float* out_row = output + r * out_w * C;
    int64_t c0 = 0;
    for (; c0 + W <= C; c0 += W) {
      depthwise_row_block<V, kKh, kKw, false>(s, in_image, w, ep.bias, out_row, ho, out_w, interior, c0, W);
    }
    if (c0 < C) {
      depthwise_row_block<V, kKh, kKw, true>(s, in_image, w, ep.bias, out_row, ho, out_w, interior, c0,
                                             static_cast<int>(C - c0));
    }
    // Activation as a second pass over the row while it is still in cache:
    // one switch per row instead of one per vector in the tap loop.
    if (ep.act.kind != ActKind::kNone) activate_buffer<V>(ep.act, out_row, out_row, out_w * C);
  }
}

template <class V>
void depthwise_impl(const Conv2dShape& s, const float* input, const float* w, float* output,
                    const Epilogue& ep, Range rows) {
  const bool unit_dilation = s.dilation_h == 1 && s.dilation_w == 1;
  if (unit_dilation && s.kernel_h == 3 && s.kernel_w == 3) {
    depthwise_rows<V, 3, 3>(s, input, w, output, ep, rows);
  } else if (unit_dilation && s.kernel_h == 5 && s.kernel_w == 5) {
    depthwise_rows<V, 5, 5>(s, input, w, output, ep, rows);
  } else {
    depthwise_rows<V, 0, 0>(s, input, w, output, ep, rows);
  }
}

// One channel vector per step: the name's <width>c.
template <class V>
constexpr F32DwconvKernel dwconv_kernel(const char* name) {
  return {name, V::kIsa, 1, V::kWidth, &depthwise_impl<V>};
}

}  // namespace slim::kernels
