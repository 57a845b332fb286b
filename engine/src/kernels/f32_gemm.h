// The f32_gemm kernel: register-blocked SGEMM over a packed B, generic over
// vector traits V. Include only from a per-ISA translation unit, after its
// traits header.
#pragma once

#include <cstdint>
#include <utility>

#include "kernels/f32_vact.h"
#include "kernels/kernels.h"

namespace slim::kernels {

// One micro-tile: C[kRows, cols] = A[kRows, kc] * Bpanel[kc, NR], with
// cols <= kNv vectors <= NR: narrow last panels (N = 16 on a 32-wide
// AVX-512 panel) skip the all-zero vectors instead of multiplying them.
// `bias` non-null: accumulators start from the bias (first K block);
// `load_c`: they start from C (later K blocks); else from zero.
// `act` non-null (last K block): activation applied before the store.
// B panels are zero-padded to NR columns, so only C and bias need masking.
template <class V, int kRows, int kNv>
void gemm_micro_tile(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                     int cols, const float* bias, bool load_c, const Activation* act) {
  using R = typename V::reg;
  constexpr int W = V::kWidth;
  constexpr int NV = kNv;
  constexpr int NR = V::kGemmNV * W;  // panel stride in B
  const bool full = cols == NV * W;
  int lanes[NV];
  SLIM_UNROLL for (int v = 0; v < NV; ++v) {
    const int left = cols - v * W;
    lanes[v] = left < 0 ? 0 : (left > W ? W : left);
  }

  R acc[kRows][NV];
  if (load_c) {
    SLIM_UNROLL for (int r = 0; r < kRows; ++r) {
      SLIM_UNROLL for (int v = 0; v < NV; ++v) {
        acc[r][v] = full ? V::load(c + r * ldc + v * W) : V::load_partial(c + r * ldc + v * W, lanes[v]);
      }
    }
  } else {
    R init[NV];
    SLIM_UNROLL for (int v = 0; v < NV; ++v) {
      init[v] = bias == nullptr ? V::zero()
                : full         ? V::load(bias + v * W)
                               : V::load_partial(bias + v * W, lanes[v]);
    }
    SLIM_UNROLL for (int r = 0; r < kRows; ++r) {
      SLIM_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] = init[v];
    }
  }

  const float* rows[kRows];
  SLIM_UNROLL for (int r = 0; r < kRows; ++r) rows[r] = a + r * lda;
  auto step = [&](R (&sum)[kRows][NV], int64_t k) {
    R bk[NV];
    SLIM_UNROLL for (int v = 0; v < NV; ++v) bk[v] = V::load(b + k * NR + v * W);
    SLIM_UNROLL for (int r = 0; r < kRows; ++r) {
      const R ar = V::set1(rows[r][k]);
      SLIM_UNROLL for (int v = 0; v < NV; ++v) sum[r][v] = V::fmadd(ar, bk[v], sum[r][v]);
    }
  };
  // A one-row tile (a recurrent step, a classifier at batch 1) has too few accumulators to hide the
  // FMA latency: its k loop runs two independent partial sums, added at the end.
  if constexpr (kRows == 1) {
    R odd[kRows][NV];
    SLIM_UNROLL for (int v = 0; v < NV; ++v) odd[0][v] = V::zero();
    int64_t k = 0;
    for (; k + 2 <= kc; k += 2) {
      step(acc, k);
      step(odd, k + 1);
    }
    if (k < kc) step(acc, k);
    SLIM_UNROLL for (int v = 0; v < NV; ++v) acc[0][v] = V::add(acc[0][v], odd[0][v]);
  } else {
    for (int64_t k = 0; k < kc; ++k) step(acc, k);
  }

  if (act != nullptr) activate_regs<V, kRows * NV>(&acc[0][0], *act);

  SLIM_UNROLL for (int r = 0; r < kRows; ++r) {
    SLIM_UNROLL for (int v = 0; v < NV; ++v) {
      if (full) {
        V::store(c + r * ldc + v * W, acc[r][v]);
      } else {
        V::store_partial(c + r * ldc + v * W, acc[r][v], lanes[v]);
      }
    }
  }
}

using GemmMicroTileFn = void (*)(int64_t, const float*, int64_t, const float*, float*, int64_t, int,
                                 const float*, bool, const Activation*);

// Micro-tile per (row count 1..MR, vector count 1..NV), entry
// (rows - 1) * NV + (vectors - 1): the last rows of a range run a shorter
// tile instead of reading past A, narrow panels a thinner one. (A struct
// templated on V rather than std::array, so no std:: symbol is shared between ISAs.)
template <class V>
struct GemmMicroTiles {
  GemmMicroTileFn fn[V::kGemmMR * V::kGemmNV];
};

template <class V, std::size_t... I>
constexpr GemmMicroTiles<V> gemm_micro_tiles(std::index_sequence<I...>) {
  return {{&gemm_micro_tile<V, static_cast<int>(I) / V::kGemmNV + 1, static_cast<int>(I) % V::kGemmNV + 1>...}};
}

// Loop nest (outer to inner): N blocks of NC columns, K blocks of KC, row
// tiles of MR, column panels of NR. A's MR x KC sliver stays in L1 across the
// panels of an N block; the KC x NC slice of packed B stays in L2 across row tiles.
template <class V>
void sgemm_packed_impl(int64_t K, const float* A, int64_t lda, const float* packed_b, float* C,
                       int64_t ldc, const Epilogue& ep, Range rows, Range cols) {
  constexpr int MR = V::kGemmMR;
  constexpr int NR = V::kGemmNV * V::kWidth;
  constexpr int W = V::kWidth;
  static constexpr auto tiles = gemm_micro_tiles<V>(std::make_index_sequence<MR * V::kGemmNV>());
  const Activation* act = ep.act.kind == ActKind::kNone ? nullptr : &ep.act;
  for (int64_t n0 = cols.begin; n0 < cols.end; n0 += V::kGemmNC) {
    const int64_t n1 = n0 + V::kGemmNC < cols.end ? n0 + V::kGemmNC : cols.end;
    // Runs once even for K == 0, so C still gets bias + activation.
    for (int64_t k0 = 0; k0 == 0 || k0 < K; k0 += V::kGemmKC) {
      const int64_t kc = K - k0 < V::kGemmKC ? K - k0 : V::kGemmKC;
      const bool first = k0 == 0;
      const bool last = k0 + kc >= K;
      for (int64_t m = rows.begin; m < rows.end; m += MR) {
        const int64_t mr = rows.end - m < MR ? rows.end - m : MR;
        const GemmMicroTileFn* row_tiles = &tiles.fn[(mr - 1) * V::kGemmNV];
        const float* a = A + m * lda + k0;
        for (int64_t j = n0; j < n1; j += NR) {
          const int nr = static_cast<int>(n1 - j < NR ? n1 - j : NR);
          const GemmMicroTileFn tile = row_tiles[(nr + W - 1) / W - 1];
          const float* panel = packed_b + (j / NR) * K * NR + k0 * NR;
          const float* bias = first && !ep.accumulate && ep.bias != nullptr ? ep.bias + j : nullptr;
          tile(kc, a, lda, panel, C + m * ldc + j, ldc, nr, bias, !first || ep.accumulate, last ? act : nullptr);
        }
      }
    }
  }
}

// MR x NR with NR = kGemmNV vectors: the name's tile.
template <class V>
constexpr F32GemmKernel gemm_kernel(const char* name) {
  return {name, V::kIsa, V::kGemmMR, V::kGemmNV * V::kWidth, &sgemm_packed_impl<V>};
}

}  // namespace slim::kernels
