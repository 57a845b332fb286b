// The integer q8_dwconv kernel for 3x3 / 5x5 depthwise windows with unit
// dilation, generic over a vector-ops struct V (defined in each per-ISA
// translation unit). Include only from such a unit, after q8_dwconv.h.
//
// Why integers: the fp32 kernel (q8_dwconv.h) spends three instructions per
// tap and 16 channels (widen, convert, FMA). Here the taps of several kernel
// rows are interleaved per channel, so that one integer dot instruction does
// V::kRowsPerGroup taps at once: vpdpbusd (u8 x s8, 4 taps, VNNI) or vpmaddwd
// (16-bit, 2 taps). Both are exact and wrap like the int32 reference, so the
// result equals q8_dwconv_1c_scalar bit for bit. One interleaved input column
// serves every output pixel of a run of kU that reads it (stride 1: up to 3),
// which amortizes the shuffles.
//
// Channel order inside a block: the interleave is four in-lane unpacks
// (vpunpck*bw / *wd), so accumulator q holds, in 128-bit lane L, channels
// 16 L + 4 q .. 16 L + 4 q + 3. The weights get the same interleave; bias and
// scale are permuted to match once per block; and the in-lane packs of the
// epilogue (vpackssdw, vpackuswb) undo the permutation, so the 16 L + j order
// comes back for the store with no cross-lane shuffle.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/kernels.h"

namespace slim::kernels {

// One channel block [c0, c0 + n) of output rows `rows`. kTail: n < V::kCh
// (partial loads and stores). kStride: stride_w when 1 or 2 (runs of kU output
// pixels share their input columns), 0 for any stride (one pixel at a time).
template <class V, int kKh, int kKw, int kStride, int kU, bool kTail>
void q8_dwi_block(const Conv2dShape& s, const uint8_t* input, uint8_t pad_value, const int8_t* w, uint8_t* output,
                  const QEpilogue& ep, Range rows, int64_t c0, int n) {
  using R = typename V::reg;
  using F = typename V::freg;
  constexpr int P = V::kRowsPerGroup;
  constexpr int G = (kKh + P - 1) / P;  // row groups; missing rows of the last are zero
  constexpr int CB = V::kCh;
  constexpr int kLanes = CB / 16;
  const int64_t C = s.in_c;
  const int64_t out_h = s.out_h();
  const int64_t out_w = s.out_w();
  const int64_t stride_w = kStride > 0 ? kStride : s.stride_w;

  const auto load = [n](const void* p) { return kTail ? V::load_partial(p, n) : V::load(p); };

  R wv[kKw][G][4];
  SLIM_UNROLL for (int j = 0; j < kKw; ++j) {
    SLIM_UNROLL for (int g = 0; g < G; ++g) {
      R r[P];
      SLIM_UNROLL for (int k = 0; k < P; ++k) {
        const int i = g * P + k;
        r[k] = i < kKh ? load(w + (i * kKw + j) * C + c0) : V::zero();
      }
      V::interleave_w(r, wv[j][g]);
    }
  }

  alignas(64) int32_t bias_p[4][CB / 4];
  alignas(64) float scale_p[4][CB / 4];
  for (int q = 0; q < 4; ++q) {
    for (int l = 0; l < kLanes; ++l) {
      for (int i = 0; i < 4; ++i) {
        const int c = 16 * l + 4 * q + i;
        bias_p[q][4 * l + i] = c < n && ep.bias != nullptr ? ep.bias[c0 + c] : 0;
        scale_p[q][4 * l + i] = c < n ? ep.scale[c0 + c] : 0.0f;
      }
    }
  }
  R bias[4];
  F scale[4];
  SLIM_UNROLL for (int q = 0; q < 4; ++q) {
    bias[q] = V::load(bias_p[q]);
    scale[q] = V::load_f32(scale_p[q]);
  }
  const F lo = V::fset1(static_cast<float>(ep.qmin - ep.zero_point));
  const F hi = V::fset1(static_cast<float>(ep.qmax - ep.zero_point));
  const R zp16 = V::set1_i16(static_cast<int16_t>(ep.zero_point));
  const R pad = V::set1_u8(pad_value);
  const Q8DwInterior interior = q8_dw_interior<V>(s, out_w);

  for (int64_t row = rows.begin; row < rows.end; ++row) {
    const int64_t img = row / out_h;
    const int64_t ho = row % out_h;
    const uint8_t* in_image = input + img * s.in_h * s.in_w * C + c0;
    const uint8_t* rowp[kKh];
    SLIM_UNROLL for (int i = 0; i < kKh; ++i) {
      const int64_t hi_row = ho * s.stride_h - s.pad_top + i;
      rowp[i] = hi_row >= 0 && hi_row < s.in_h ? in_image + hi_row * s.in_w * C : nullptr;
    }
    uint8_t* out_row = output + row * out_w * C + c0;

    // The interleaved input column wi (all kKh rows), padding where outside.
    const auto column = [&](int64_t wi, bool check_w, R (&x)[G][4]) {
      const bool col_in = !check_w || (wi >= 0 && wi < s.in_w);
      SLIM_UNROLL for (int g = 0; g < G; ++g) {
        R r[P];
        SLIM_UNROLL for (int k = 0; k < P; ++k) {
          const int i = g * P + k;
          if (i >= kKh) {
            r[k] = V::zero();
          } else {
            r[k] = rowp[i] != nullptr && col_in ? load(rowp[i] + wi * C) : pad;
          }
        }
        V::interleave(r, x[g]);
      }
    };
    const auto finish = [&](const R (&acc)[4], int64_t wo) {
      R y[4];
      SLIM_UNROLL for (int q = 0; q < 4; ++q) {
        const F f = V::fmin(V::fmax(V::fmul(V::to_float(acc[q]), scale[q]), lo), hi);
        y[q] = V::to_int(f);
      }
      const R b = V::pack(y, zp16);
      if (kTail) {
        V::store_partial(out_row + wo * C, b, n);
      } else {
        V::store(out_row + wo * C, b);
      }
    };
    const auto pixel = [&](int64_t wo, bool check_w) {
      R acc[4] = {bias[0], bias[1], bias[2], bias[3]};
      const int64_t wi0 = wo * stride_w - s.pad_left;
      SLIM_UNROLL for (int j = 0; j < kKw; ++j) {
        R x[G][4];
        column(wi0 + j, check_w, x);
        SLIM_UNROLL for (int g = 0; g < G; ++g) {
          SLIM_UNROLL for (int q = 0; q < 4; ++q) acc[q] = V::dot(acc[q], x[g][q], wv[j][g][q]);
        }
      }
      finish(acc, wo);
    };

    int64_t wo = 0;
    for (; wo < interior.begin; ++wo) pixel(wo, true);
    if constexpr (kStride > 0) {
      constexpr int kCols = (kU - 1) * kStride + kKw;
      for (; wo + kU <= interior.end; wo += kU) {
        R acc[kU][4];
        SLIM_UNROLL for (int u = 0; u < kU; ++u) {
          SLIM_UNROLL for (int q = 0; q < 4; ++q) acc[u][q] = bias[q];
        }
        const int64_t wi0 = wo * kStride - s.pad_left;
        SLIM_UNROLL for (int cc = 0; cc < kCols; ++cc) {
          R x[G][4];
          column(wi0 + cc, false, x);
          SLIM_UNROLL for (int u = 0; u < kU; ++u) {
            const int j = cc - u * kStride;
            if (j < 0 || j >= kKw) continue;
            SLIM_UNROLL for (int g = 0; g < G; ++g) {
              SLIM_UNROLL for (int q = 0; q < 4; ++q) acc[u][q] = V::dot(acc[u][q], x[g][q], wv[j][g][q]);
            }
          }
        }
        SLIM_UNROLL for (int u = 0; u < kU; ++u) finish(acc[u], wo + u);
      }
    }
    for (; wo < interior.end; ++wo) pixel(wo, false);
    for (; wo < out_w; ++wo) pixel(wo, true);
  }
}

// Channels [c0, C): whole blocks of V, then a tail that fits half a block
// runs the narrower V::Narrow (MobileNetV2's 144 = 64 + 64 + 16), a wider
// one a partial block of V.
template <class V, int kKh, int kKw, int kStride, int kU>
void q8_dwi_rows(const Conv2dShape& s, const uint8_t* input, uint8_t pad_value, const int8_t* w, uint8_t* output,
                 const QEpilogue& ep, Range rows, int64_t c0) {
  for (; c0 + V::kCh <= s.in_c; c0 += V::kCh) {
    q8_dwi_block<V, kKh, kKw, kStride, kU, false>(s, input, pad_value, w, output, ep, rows, c0, V::kCh);
  }
  const int64_t rest = s.in_c - c0;
  if (rest == 0) return;
  if constexpr (!std::is_void_v<typename V::Narrow>) {
    if (rest <= V::Narrow::kCh) {
      q8_dwi_rows<typename V::Narrow, kKh, kKw, kStride, kU>(s, input, pad_value, w, output, ep, rows, c0);
      return;
    }
  }
  q8_dwi_block<V, kKh, kKw, kStride, kU, true>(s, input, pad_value, w, output, ep, rows, c0, static_cast<int>(rest));
}

template <class V, int kKh, int kKw, int kU>
void q8_dwi_strides(const Conv2dShape& s, const uint8_t* input, uint8_t pad_value, const int8_t* w,
                    uint8_t* output, const QEpilogue& ep, Range rows) {
  if (s.stride_w == 1) {
    q8_dwi_rows<V, kKh, kKw, 1, kU>(s, input, pad_value, w, output, ep, rows, 0);
  } else if (s.stride_w == 2) {
    q8_dwi_rows<V, kKh, kKw, 2, kU>(s, input, pad_value, w, output, ep, rows, 0);
  } else {
    q8_dwi_rows<V, kKh, kKw, 0, 1>(s, input, pad_value, w, output, ep, rows, 0);
  }
}

// 3x3 and 5x5 with unit dilation (every MobileNet / EfficientNet / ShuffleNet
// depthwise layer) run the integer kernel; other windows the fp32 one of Q.
template <class V, class Q>
void q8_dwconv_int_impl(const Conv2dShape& s, const uint8_t* input, uint8_t pad_value, const int8_t* packed_w,
                        uint8_t* output, const QEpilogue& ep, Range rows) {
  const bool unit_dilation = s.dilation_h == 1 && s.dilation_w == 1;
  if (unit_dilation && s.kernel_h == 3 && s.kernel_w == 3) {
    q8_dwi_strides<V, 3, 3, V::kU3>(s, input, pad_value, packed_w, output, ep, rows);
  } else if (unit_dilation && s.kernel_h == 5 && s.kernel_w == 5) {
    q8_dwi_strides<V, 5, 5, V::kU5>(s, input, pad_value, packed_w, output, ep, rows);
  } else {
    q8_dwconv_impl<Q>(s, input, pad_value, packed_w, output, ep, rows);
  }
}

template <class V, class Q>
constexpr Q8DwconvKernel q8_dwconv_int_kernel(const char* name) {
  return {name, Q::kIsa, 1, V::kCh, &q8_dwconv_int_impl<V, Q>};
}

}  // namespace slim::kernels
