// The q8_maxpool and q8_gavgpool kernels, NHWC uint8, channels as the vector
// dimension, generic over int8 traits Q. Include only from a per-ISA
// translation unit, after its traits header.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/q8_requant.h"

namespace slim::kernels {

// Max over the window's in-image pixels (padding is ignored; a window that
// sees no pixel gives 0, the smallest uint8). Max commutes with the monotonic
// dequantization, so the result is the quantized max.
template <class Q>
void q8_maxpool_impl(const Pool2dShape& s, const uint8_t* input, uint8_t* output, Range rows) {
  using B = typename Q::breg;
  constexpr int W = Q::kBytes;
  const int64_t out_h = s.out_h(), out_w = s.out_w(), C = s.channels;
  for (int64_t r = rows.begin; r < rows.end; ++r) {
    const int64_t n = r / out_h;
    const int64_t ho = r % out_h;
    const uint8_t* image = input + n * s.in_h * s.in_w * C;
    uint8_t* out_row = output + r * out_w * C;
    const int64_t hi0 = ho * s.stride_h - s.pad_top;
    for (int64_t wo = 0; wo < out_w; ++wo) {
      const int64_t wi0 = wo * s.stride_w - s.pad_left;
      const auto block = [&](int64_t c0, int lanes, bool tail) {
        B acc = Q::bzero();
        for (int64_t i = 0; i < s.kernel_h; ++i) {
          const int64_t hi = hi0 + i * s.dilation_h;
          if (hi < 0 || hi >= s.in_h) continue;
          const uint8_t* irow = image + hi * s.in_w * C + c0;
          for (int64_t j = 0; j < s.kernel_w; ++j) {
            const int64_t wi = wi0 + j * s.dilation_w;
            if (wi < 0 || wi >= s.in_w) continue;
            const uint8_t* p = irow + wi * C;
            acc = Q::max_u8(acc, tail ? Q::load_bytes_partial(p, lanes) : Q::load_bytes(p));
          }
        }
        if (tail) {
          Q::store_bytes_partial(out_row + wo * C + c0, acc, lanes);
        } else {
          Q::store_bytes(out_row + wo * C + c0, acc);
        }
      };
      int64_t c0 = 0;
      for (; c0 + W <= C; c0 += W) block(c0, W, false);
      if (c0 < C) block(c0, static_cast<int>(C - c0), true);
    }
  }
}

template <class Q>
constexpr Q8MaxPoolKernel q8_maxpool_kernel(const char* name) {
  return {name, Q::kIsa, 1, Q::kBytes, &q8_maxpool_impl<Q>};
}

// y = clamp(nearbyint(float(sum - pixels * x_zp) * multiplier) + y_zp, 0, 255)
// per channel, the sum exact in int32 (the driver bounds pixels).
template <class Q>
void q8_gavgpool_impl(int64_t batch, int64_t pixels, int64_t channels, const uint8_t* input,
                      const QGlobalAvgPoolParams& p, uint8_t* output, Range channel_range) {
  using I = typename Q::ireg;
  constexpr int W = Q::kWidth;
  constexpr int NV = Q::kGapNV;
  const Q8Requant<Q> rq = q8_requant_params<Q>(p.y_zp, 0, 255);
  const typename Q::freg mult = Q::fset1(p.multiplier);
  const I offset = Q::iset1(static_cast<int32_t>(pixels * p.x_zp));
  for (int64_t n = 0; n < batch; ++n) {
    const uint8_t* image = input + n * pixels * channels;
    uint8_t* out = output + n * channels;
    int64_t c = channel_range.begin;
    for (; c + NV * W <= channel_range.end; c += NV * W) {
      I acc[NV];
      SLIM_UNROLL for (int v = 0; v < NV; ++v) acc[v] = Q::izero();
      for (int64_t i = 0; i < pixels; ++i) {
        const uint8_t* px = image + i * channels + c;
        SLIM_UNROLL for (int v = 0; v < NV; ++v) acc[v] = Q::iadd(acc[v], Q::load_u8(px + v * W));
      }
      SLIM_UNROLL for (int v = 0; v < NV; ++v) {
        Q::store_u8(out + c + v * W, q8_requantize<Q>(Q::isub(acc[v], offset), mult, rq));
      }
    }
    for (; c < channel_range.end; c += W) {
      const int lanes = channel_range.end - c < W ? static_cast<int>(channel_range.end - c) : W;
      I acc = Q::izero();
      for (int64_t i = 0; i < pixels; ++i) acc = Q::iadd(acc, Q::load_u8_partial(image + i * channels + c, lanes));
      Q::store_u8_partial(out + c, q8_requantize<Q>(Q::isub(acc, offset), mult, rq), lanes);
    }
  }
}

template <class Q>
constexpr Q8GlobalAvgPoolKernel q8_gavgpool_kernel(const char* name) {
  return {name, Q::kIsa, 1, Q::kGapNV * Q::kWidth, &q8_gavgpool_impl<Q>};
}

}  // namespace slim::kernels
