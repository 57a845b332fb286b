// Winograd F(2x2, 3x3) convolution on the chosen f32_gemm variant (Lavin &
// Gray 2016): each 2x2 block of output pixels ("tile") comes from a 4x4 input
// patch; in the transformed domain the 3x3 convolution becomes 16 independent
// products [tiles, in_c] x [in_c, out_c], one per point of the 4x4 transform,
// with 2.25x fewer multiplications than the direct sum. The transforms are
// linear maps over whole channel vectors (NHWC), vectorized by the compiler;
// the products run on the GEMM micro-kernels.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "kernels/kernels.h"

namespace slim::kernels {
namespace {

constexpr int64_t kPoints = 16;                // 4x4 transform points
constexpr int64_t kScratchBudget = 64 * 1024;  // floats of U + M per block: a quarter of L2
// The 16 transform points are 16 streams written (U) and read (M) side by
// side; a stride of a multiple of 4 KiB between them maps all 16 to the same
// L1 sets (64 tiles of 64 channels, say) and was 1.5x slower. A cache line of
// padding per point breaks that.
constexpr int64_t kPointPad = 16;

int64_t tiles_h(const Conv2dShape& s) { return (s.out_h() + 1) / 2; }
int64_t tiles_w(const Conv2dShape& s) { return (s.out_w() + 1) / 2; }

// Tiles per block: U and M of one block stay in L2 across the 16 products.
int64_t block_tiles(const F32GemmKernel& k, const Conv2dShape& s) {
  const int64_t mr = k.tile_rows;
  const int64_t t = kScratchBudget / (kPoints * (s.in_c + s.out_c)) / mr * mr;
  return std::max(mr, t);
}

void check_shape(const char* where, const Conv2dShape& s) {
  validate(s);
  if (!winograd_applies(s)) fail_argument(where, "not a 3x3, stride-1, undilated, ungrouped convolution");
}

}  // namespace

bool winograd_applies(const Conv2dShape& s) {
  // Below ~32 channels the transforms cost more than the multiplications they save.
  return s.kernel_h == 3 && s.kernel_w == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dilation_h == 1 &&
         s.dilation_w == 1 && s.groups == 1 && s.in_c >= 32 && s.out_c >= 32;
}

int64_t winograd_tiles(const Conv2dShape& s) { return s.batch * tiles_h(s) * tiles_w(s); }

int64_t winograd_packed_weight_floats(const F32GemmKernel& k, const Conv2dShape& s) {
  check_shape("winograd_packed_weight_floats", s);
  return kPoints * packed_b_floats(k, s.in_c, s.out_c);
}

void winograd_pack_weights(const F32GemmKernel& k, const Conv2dShape& s, const float* w_oihw, float* packed) {
  check_shape("winograd_pack_weights", s);
  check_not_null("winograd_pack_weights", "w_oihw", w_oihw);
  check_not_null("winograd_pack_weights", "packed", packed);
  const int64_t cin = s.in_c, cout = s.out_c;
  // V = G g G^T per (out, in) pair, stored as 16 matrices [out][in] (B transposed).
  std::vector<float> vt(static_cast<size_t>(kPoints * cout * cin));
  for (int64_t o = 0; o < cout; ++o) {
    for (int64_t c = 0; c < cin; ++c) {
      const float* g = w_oihw + (o * cin + c) * 9;
      float t[4][3];
      for (int j = 0; j < 3; ++j) {
        t[0][j] = g[j];
        t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        t[3][j] = g[6 + j];
      }
      for (int i = 0; i < 4; ++i) {
        const float v[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]), 0.5f * (t[i][0] - t[i][1] + t[i][2]),
                            t[i][2]};
        for (int j = 0; j < 4; ++j) vt[static_cast<size_t>(((i * 4 + j) * cout + o) * cin + c)] = v[j];
      }
    }
  }
  const int64_t pf = packed_b_floats(k, cin, cout);
  for (int64_t p = 0; p < kPoints; ++p) {
    pack_b_transposed(k, cin, cout, vt.data() + p * cout * cin, cin, packed + p * pf);
  }
}

int64_t winograd_scratch_floats(const F32GemmKernel& k, const Conv2dShape& s) {
  check_shape("winograd_scratch_floats", s);
  return s.in_c + kPoints * (block_tiles(k, s) * (s.in_c + s.out_c) + 2 * kPointPad);
}

void winograd_conv2d(const F32GemmKernel& k, const F32VactKernel& act_kernel, const Conv2dShape& s,
                     const float* input, const float* packed_w, float* output, const Epilogue& ep, Range tiles,
                     float* scratch) {
  const char* where = "winograd_conv2d";
  check_shape(where, s);
  check_range(where, "tiles", tiles.begin, tiles.end, winograd_tiles(s));
  if (tiles.size() == 0) return;
  check_not_null(where, "input", input);
  check_not_null(where, "packed_w", packed_w);
  check_not_null(where, "output", output);
  check_not_null(where, "scratch", scratch);
  if (ep.accumulate) fail_argument(where, "accumulate is not supported");
  const int64_t cin = s.in_c, cout = s.out_c, out_h = s.out_h(), out_w = s.out_w();
  const int64_t th = tiles_h(s), tw = tiles_w(s), per_image = th * tw;
  const int64_t block = block_tiles(k, s), pf = packed_b_floats(k, cin, cout);
  const int64_t u_stride = block * cin + kPointPad, m_stride = block * cout + kPointPad;
  float* zeros = scratch;
  float* u = zeros + cin;                 // 16 x [block][cin], u_stride apart
  float* m = u + kPoints * u_stride;      // 16 x [block][cout], m_stride apart
  std::fill(zeros, zeros + cin, 0.0f);
  const bool has_act = ep.act.kind != ActKind::kNone;

  for (int64_t t0 = tiles.begin; t0 < tiles.end; t0 += block) {
    const int64_t nt = std::min(block, tiles.end - t0);
    // Input transform U = B^T d B of every tile's 4x4 patch, a channel vector at a time.
    for (int64_t t = 0; t < nt; ++t) {
      const int64_t tile = t0 + t, n = tile / per_image, r = (tile % per_image) / tw, c = tile % tw;
      const float* d[4][4];
      for (int i = 0; i < 4; ++i) {
        const int64_t h = 2 * r - s.pad_top + i;
        for (int j = 0; j < 4; ++j) {
          const int64_t w = 2 * c - s.pad_left + j;
          d[i][j] = h < 0 || h >= s.in_h || w < 0 || w >= s.in_w ? zeros : input + ((n * s.in_h + h) * s.in_w + w) * cin;
        }
      }
      float* ut = u + t * cin;
      const int64_t ps = u_stride;
      // The patch pointers and U never overlap: tell the vectorizer so.
#pragma GCC ivdep
      for (int64_t ch = 0; ch < cin; ++ch) {
        float q[4][4];
        for (int j = 0; j < 4; ++j) {
          const float d0 = d[0][j][ch], d1 = d[1][j][ch], d2 = d[2][j][ch], d3 = d[3][j][ch];
          q[0][j] = d0 - d2;
          q[1][j] = d1 + d2;
          q[2][j] = d2 - d1;
          q[3][j] = d1 - d3;
        }
        for (int i = 0; i < 4; ++i) {
          ut[(i * 4 + 0) * ps + ch] = q[i][0] - q[i][2];
          ut[(i * 4 + 1) * ps + ch] = q[i][1] + q[i][2];
          ut[(i * 4 + 2) * ps + ch] = q[i][2] - q[i][1];
          ut[(i * 4 + 3) * ps + ch] = q[i][1] - q[i][3];
        }
      }
    }
    // The 16 products M[p] = U[p] V[p].
    for (int64_t p = 0; p < kPoints; ++p) {
      k.fn(cin, u + p * u_stride, cin, packed_w + p * pf, m + p * m_stride, cout, Epilogue{}, {0, nt},
           {0, cout});
    }
    // Output transform y = A^T M A, plus bias, then the activation over the tile's rows.
    for (int64_t t = 0; t < nt; ++t) {
      const int64_t tile = t0 + t, n = tile / per_image, r = (tile % per_image) / tw, c = tile % tw;
      const int64_t h0 = 2 * r, w0 = 2 * c;
      const int64_t rows = std::min<int64_t>(2, out_h - h0), cols = std::min<int64_t>(2, out_w - w0);
      float* y00 = output + ((n * out_h + h0) * out_w + w0) * cout;
      float* y10 = y00 + out_w * cout;
      const float* mt = m + t * cout;
      const int64_t ps = m_stride;
#pragma GCC ivdep
      for (int64_t o = 0; o < cout; ++o) {
        float v[4][4];
        for (int p = 0; p < 16; ++p) v[p / 4][p % 4] = mt[p * ps + o];
        float a[2][4];
        for (int j = 0; j < 4; ++j) {
          a[0][j] = v[0][j] + v[1][j] + v[2][j];
          a[1][j] = v[1][j] - v[2][j] - v[3][j];
        }
        const float b = ep.bias == nullptr ? 0.0f : ep.bias[o];
        const float y0 = a[0][0] + a[0][1] + a[0][2] + b, y1 = a[0][1] - a[0][2] - a[0][3] + b;
        const float y2 = a[1][0] + a[1][1] + a[1][2] + b, y3 = a[1][1] - a[1][2] - a[1][3] + b;
        y00[o] = y0;
        if (cols > 1) y00[cout + o] = y1;
        if (rows > 1) {
          y10[o] = y2;
          if (cols > 1) y10[cout + o] = y3;
        }
      }
      if (has_act) {
        activation(act_kernel, ep.act, y00, y00, cols * cout);
        if (rows > 1) activation(act_kernel, ep.act, y10, y10, cols * cout);
      }
    }
  }
}

}  // namespace slim::kernels
