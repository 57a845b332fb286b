// The q8_gemm kernel: u8 x s8 -> exact int32 GEMM over a packed B, then the
// requantizing (or f32) epilogue of QEpilogue, generic over int8 traits Q.
// Include only from a per-ISA translation unit, after its traits header.
//
// Packed B (q8_pack_b): panels of NR = kGemmNV * kWidth columns; a panel is
// round_up(K, 4) / 4 groups, each NR columns x 4 consecutive k bytes (the
// vpdpbusd operand layout), zero past K and past N. A "vector" of B is kWidth
// columns of one group: 4 * kWidth bytes. Q provides load_b / bcast_a / dot,
// which add sum_{i<4} a[k + i] * b[k + i, n] to each int32 lane n.
#pragma once

#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/kernels.h"
#include "kernels/q8_requant.h"

namespace slim::kernels {

// One micro-tile: kRows rows x `cols` columns (cols <= kNv vectors) of C.
// `col0` indexes bias / scale; `c` points at the tile's first element.
template <class Q, int kRows, int kNv>
void q8_gemm_tile(int64_t K, const uint8_t* a, int64_t lda, const int8_t* b, void* c, int64_t ldc, int cols,
                  const QEpilogue& ep, const Q8Requant<Q>& rq, int64_t col0) {
  using I = typename Q::ireg;
  using F = typename Q::freg;
  constexpr int W = Q::kWidth;
  constexpr int NR = Q::kGemmNV * W;
  const bool full = cols == kNv * W;

  // The sums start from the bias: int32 addition wraps the same in any order,
  // so this equals acc + bias and saves one add per output vector.
  I acc[kRows][kNv];
  SLIM_UNROLL for (int v = 0; v < kNv; ++v) {
    int lanes = cols - v * W;
    lanes = lanes < 0 ? 0 : (lanes > W ? W : lanes);
    const I bias = ep.bias == nullptr ? Q::izero()
                   : full             ? Q::load_i32(ep.bias + col0 + v * W)
                                      : Q::load_i32_partial(ep.bias + col0 + v * W, lanes);
    SLIM_UNROLL for (int r = 0; r < kRows; ++r) acc[r][v] = bias;
  }
  const uint8_t* rows[kRows];
  SLIM_UNROLL for (int r = 0; r < kRows; ++r) rows[r] = a + r * lda;

  const int64_t groups = K / 4;
  for (int64_t g = 0; g < groups; ++g) {
    typename Q::bvec bv[kNv];
    SLIM_UNROLL for (int v = 0; v < kNv; ++v) bv[v] = Q::load_b(b + g * 4 * NR + v * 4 * W);
    SLIM_UNROLL for (int r = 0; r < kRows; ++r) {
      uint32_t a4;
      std::memcpy(&a4, rows[r] + 4 * g, 4);
      const typename Q::avec av = Q::bcast_a(a4);
      SLIM_UNROLL for (int v = 0; v < kNv; ++v) acc[r][v] = Q::dot(acc[r][v], av, bv[v]);
    }
  }
  // K % 4 last bytes: A is read byte by byte (never past K); packed B is zero there.
  if (const int rem = static_cast<int>(K - groups * 4); rem > 0) {
    typename Q::bvec bv[kNv];
    SLIM_UNROLL for (int v = 0; v < kNv; ++v) bv[v] = Q::load_b(b + groups * 4 * NR + v * 4 * W);
    SLIM_UNROLL for (int r = 0; r < kRows; ++r) {
      const uint8_t* p = rows[r] + 4 * groups;
      uint32_t a4 = p[0];
      if (rem > 1) a4 |= static_cast<uint32_t>(p[1]) << 8;
      if (rem > 2) a4 |= static_cast<uint32_t>(p[2]) << 16;
      const typename Q::avec av = Q::bcast_a(a4);
      SLIM_UNROLL for (int v = 0; v < kNv; ++v) acc[r][v] = Q::dot(acc[r][v], av, bv[v]);
    }
  }

  SLIM_UNROLL for (int v = 0; v < kNv; ++v) {
    int lanes = cols - v * W;
    lanes = lanes < 0 ? 0 : (lanes > W ? W : lanes);
    const int64_t n = col0 + v * W;
    if (ep.i32_output) {
      int32_t* out = static_cast<int32_t*>(c) + v * W;
      SLIM_UNROLL for (int r = 0; r < kRows; ++r) {
        if (full) {
          Q::store_i32(out + r * ldc, acc[r][v]);
        } else {
          Q::store_i32_partial(out + r * ldc, acc[r][v], lanes);
        }
      }
      continue;
    }
    const F scale = full ? Q::load_f32(ep.scale + n) : Q::load_f32_partial(ep.scale + n, lanes);
    if (ep.f32_output) {
      float* out = static_cast<float*>(c) + v * W;
      SLIM_UNROLL for (int r = 0; r < kRows; ++r) {
        const F y = Q::fmul(Q::to_float(acc[r][v]), scale);
        if (full) {
          Q::store_f32(out + r * ldc, y);
        } else {
          Q::store_f32_partial(out + r * ldc, y, lanes);
        }
      }
    } else {
      uint8_t* out = static_cast<uint8_t*>(c) + v * W;
      SLIM_UNROLL for (int r = 0; r < kRows; ++r) {
        const I y = q8_requantize<Q>(acc[r][v], scale, rq);
        if (full) {
          Q::store_u8(out + r * ldc, y);
        } else {
          Q::store_u8_partial(out + r * ldc, y, lanes);
        }
      }
    }
  }
}

template <class Q>
using Q8GemmTileFn = void (*)(int64_t, const uint8_t*, int64_t, const int8_t*, void*, int64_t, int, const QEpilogue&,
                              const Q8Requant<Q>&, int64_t);

// Tile per (rows 1..MR, vectors 1..NV), entry (rows - 1) * NV + (vectors - 1),
// as in f32_gemm.h: the last rows of a range run a shorter tile instead of
// reading past A, narrow panels a thinner one.
template <class Q>
struct Q8GemmTiles {
  Q8GemmTileFn<Q> fn[Q::kGemmMR * Q::kGemmNV];
};

template <class Q, std::size_t... I>
constexpr Q8GemmTiles<Q> q8_gemm_tiles(std::index_sequence<I...>) {
  return {{&q8_gemm_tile<Q, static_cast<int>(I) / Q::kGemmNV + 1, static_cast<int>(I) % Q::kGemmNV + 1>...}};
}

// Loop nest: column blocks of about 256 KiB of packed B (L2-resident), row
// tiles of MR, panels of NR. The whole K is reduced in registers (no K
// blocking): the int32 sums never leave the tile, and the A sliver (MR rows x
// K bytes) stays in L1 across the panels of a block.
template <class Q>
void q8_gemm_impl(int64_t K, const uint8_t* A, int64_t lda, const int8_t* packed_b, void* C, int64_t ldc,
                  const QEpilogue& ep, Range rows, Range cols) {
  constexpr int MR = Q::kGemmMR;
  constexpr int W = Q::kWidth;
  constexpr int NR = Q::kGemmNV * W;
  static constexpr auto tiles = q8_gemm_tiles<Q>(std::make_index_sequence<MR * Q::kGemmNV>());
  const int64_t kp = (K + 3) / 4 * 4;
  const int64_t panel_bytes = kp * NR;
  int64_t nc = (int64_t{256} * 1024 / (panel_bytes > 0 ? panel_bytes : 1)) * NR;
  if (nc < NR) nc = NR;
  const Q8Requant<Q> rq = q8_requant_params<Q>(ep.zero_point, ep.qmin, ep.qmax);
  const int64_t elem = ep.f32_output || ep.i32_output ? int64_t{4} : 1;  // float / int32 / uint8
  for (int64_t n0 = cols.begin; n0 < cols.end; n0 += nc) {
    const int64_t n1 = n0 + nc < cols.end ? n0 + nc : cols.end;
    for (int64_t m = rows.begin; m < rows.end; m += MR) {
      const int64_t mr = rows.end - m < MR ? rows.end - m : MR;
      const Q8GemmTileFn<Q>* row_tiles = &tiles.fn[(mr - 1) * Q::kGemmNV];
      for (int64_t j = n0; j < n1; j += NR) {
        const int nr = static_cast<int>(n1 - j < NR ? n1 - j : NR);
        void* c = static_cast<char*>(C) + (m * ldc + j) * elem;
        row_tiles[(nr + W - 1) / W - 1](K, A + m * lda, lda, packed_b + (j / NR) * panel_bytes, c, ldc, nr, ep, rq,
                                        j);
      }
    }
  }
}

template <class Q>
constexpr Q8GemmKernel q8_gemm_kernel(const char* name) {
  return {name, Q::kIsa, Q::kGemmMR, Q::kGemmNV * Q::kWidth, &q8_gemm_impl<Q>};
}

}  // namespace slim::kernels
