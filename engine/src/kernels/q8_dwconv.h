// The q8_dwconv kernel: direct NHWC depthwise convolution on uint8 input and
// int8 weights, generic over int8 traits Q, channels as the vector dimension.
// The sum of products is accumulated in fp32, which is exact: every product
// and partial sum is an integer of magnitude <= kh * kw * 255 * 128 < 2^24
// (the driver checks kh * kw <= 514), whatever the order or fusion of the
// multiply-adds. It is converted to int32 before the bias (which can be far
// beyond 2^24) and the requantization, so the result equals the exact integer
// computation. Include only from a per-ISA translation unit, after its traits header.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/q8_requant.h"

namespace slim::kernels {

// Output columns whose whole receptive field lies inside the input row.
struct Q8DwInterior {
  int64_t begin;
  int64_t end;
};

// A template (Q unused) so that each ISA gets its own symbol.
template <class Q>
Q8DwInterior q8_dw_interior(const Conv2dShape& s, int64_t out_w) {
  const int64_t span = s.dilation_w * (s.kernel_w - 1);
  int64_t begin = (s.pad_left + s.stride_w - 1) / s.stride_w;
  const int64_t last_ok = s.in_w - 1 - span + s.pad_left;
  int64_t end = last_ok < 0 ? 0 : last_ok / s.stride_w + 1;
  if (end > out_w) end = out_w;
  if (begin > end) begin = end;
  return {begin, end};
}

// One channel block [c0, c0 + lanes) of one output row. kKh / kKw > 0: kernel
// size known at compile time (taps unrolled, weights in registers, dilation
// 1); 0: read from the shape. Padded taps read pad_value.
template <class Q, int kKh, int kKw, bool kTail>
void q8_dw_row_block(const Conv2dShape& s, const uint8_t* in_image, typename Q::freg pad, const int8_t* w,
                     const QEpilogue& ep, const Q8Requant<Q>& rq, uint8_t* out_row, int64_t ho, int64_t out_w,
                     Q8DwInterior interior, int64_t c0, int lanes) {
  using F = typename Q::freg;
  using I = typename Q::ireg;
  constexpr bool kFixed = kKh > 0;
  const int64_t C = s.in_c;
  const auto load_x = [lanes](const uint8_t* p) {
    return Q::to_float(kTail ? Q::load_u8_partial(p, lanes) : Q::load_u8(p));
  };
  const auto load_w = [lanes](const int8_t* p) {
    return Q::to_float(kTail ? Q::load_s8_partial(p, lanes) : Q::load_s8(p));
  };
  const I bias = ep.bias == nullptr ? Q::izero()
                 : kTail            ? Q::load_i32_partial(ep.bias + c0, lanes)
                                    : Q::load_i32(ep.bias + c0);
  const F scale = kTail ? Q::load_f32_partial(ep.scale + c0, lanes) : Q::load_f32(ep.scale + c0);
  constexpr int kTaps = kFixed ? kKh * kKw : 1;
  [[maybe_unused]] F wv[kTaps];
  if constexpr (kFixed) {
    SLIM_UNROLL for (int t = 0; t < kTaps; ++t) wv[t] = load_w(w + t * C + c0);
  }
  const int64_t hi0 = ho * s.stride_h - s.pad_top;

  const auto pixel = [&](int64_t wo, bool check_w) {
    F acc = Q::fzero();
    const int64_t wi0 = wo * s.stride_w - s.pad_left;
    if constexpr (kFixed) {
      SLIM_UNROLL for (int i = 0; i < kKh; ++i) {
        const int64_t hi = hi0 + i;
        if (hi < 0 || hi >= s.in_h) {
          SLIM_UNROLL for (int j = 0; j < kKw; ++j) acc = Q::fmadd(pad, wv[i * kKw + j], acc);
          continue;
        }
        const uint8_t* irow = in_image + hi * s.in_w * C + c0;
        SLIM_UNROLL for (int j = 0; j < kKw; ++j) {
          const int64_t wi = wi0 + j;
          const F x = check_w && (wi < 0 || wi >= s.in_w) ? pad : load_x(irow + wi * C);
          acc = Q::fmadd(x, wv[i * kKw + j], acc);
        }
      }
    } else {
      const int64_t kh = s.kernel_h, kw = s.kernel_w, dh = s.dilation_h, dw = s.dilation_w;
      for (int64_t i = 0; i < kh; ++i) {
        const int64_t hi = hi0 + i * dh;
        const bool row_in = hi >= 0 && hi < s.in_h;
        const uint8_t* irow = in_image + hi * s.in_w * C + c0;
        for (int64_t j = 0; j < kw; ++j) {
          const int64_t wi = wi0 + j * dw;
          const F x = !row_in || (check_w && (wi < 0 || wi >= s.in_w)) ? pad : load_x(irow + wi * C);
          acc = Q::fmadd(x, load_w(w + (i * kw + j) * C + c0), acc);
        }
      }
    }
    const I y = q8_requantize<Q>(Q::iadd(Q::to_int(acc), bias), scale, rq);
    if (kTail) {
      Q::store_u8_partial(out_row + wo * C + c0, y, lanes);
    } else {
      Q::store_u8(out_row + wo * C + c0, y);
    }
  };

  for (int64_t wo = 0; wo < interior.begin; ++wo) pixel(wo, true);
  for (int64_t wo = interior.begin; wo < interior.end; ++wo) pixel(wo, false);
  for (int64_t wo = interior.end; wo < out_w; ++wo) pixel(wo, true);
}

template <class Q, int kKh, int kKw>
void q8_dw_rows(const Conv2dShape& s, const uint8_t* input, uint8_t pad_value, const int8_t* w, uint8_t* output,
                const QEpilogue& ep, Range rows) {
  constexpr int W = Q::kWidth;
  const int64_t out_h = s.out_h();
  const int64_t out_w = s.out_w();
  const int64_t C = s.in_c;
  const Q8DwInterior interior = q8_dw_interior<Q>(s, out_w);
  const Q8Requant<Q> rq = q8_requant_params<Q>(ep.zero_point, ep.qmin, ep.qmax);
  const typename Q::freg pad = Q::fset1(static_cast<float>(pad_value));
  for (int64_t r = rows.begin; r < rows.end; ++r) {
    const int64_t n = r / out_h;
    const int64_t ho = r % out_h;
    const uint8_t* in_image = input + n * s.in_h * s.in_w * C;
    uint8_t* out_row = output + r * out_w * C;
    int64_t c0 = 0;
    for (; c0 + W <= C; c0 += W) {
      q8_dw_row_block<Q, kKh, kKw, false>(s, in_image, pad, w, ep, rq, out_row, ho, out_w, interior, c0, W);
    }
    if (c0 < C) {
      q8_dw_row_block<Q, kKh, kKw, true>(s, in_image, pad, w, ep, rq, out_row, ho, out_w, interior, c0,
                                         static_cast<int>(C - c0));
    }
  }
}

template <class Q>
void q8_dwconv_impl(const Conv2dShape& s, const uint8_t* input, uint8_t pad_value, const int8_t* packed_w,
                    uint8_t* output, const QEpilogue& ep, Range rows) {
  const bool unit_dilation = s.dilation_h == 1 && s.dilation_w == 1;
  if (unit_dilation && s.kernel_h == 3 && s.kernel_w == 3) {
    q8_dw_rows<Q, 3, 3>(s, input, pad_value, packed_w, output, ep, rows);
  } else if (unit_dilation && s.kernel_h == 5 && s.kernel_w == 5) {
    q8_dw_rows<Q, 5, 5>(s, input, pad_value, packed_w, output, ep, rows);
  } else {
    q8_dw_rows<Q, 0, 0>(s, input, pad_value, packed_w, output, ep, rows);
  }
}

template <class Q>
constexpr Q8DwconvKernel q8_dwconv_kernel(const char* name) {
  return {name, Q::kIsa, 1, Q::kWidth, &q8_dwconv_impl<Q>};
}

}  // namespace slim::kernels
