// SGEMM (packed and unpacked B) against a double-precision reference.
#include <cmath>
#include <vector>

#include "test_util.h"

namespace slim::kernels::test {
namespace {

constexpr float kSentinel = -777.0f;

struct GemmCase {
  int64_t M, N, K;
  int64_t lda, ldb, ldc;  // >= K, N, N; padding columns must stay untouched in C
  bool bias;
  Activation act;
};

struct GemmData {
  std::vector<float> A, B, bias;
  std::vector<double> ref, atol;
};

GemmData make_data(const GemmCase& c, std::mt19937& rng) {
  GemmData d;
  d.A = random_floats(rng, c.M * c.lda);
  d.B = random_floats(rng, c.K * c.ldb);
  if (c.bias) d.bias = random_floats(rng, c.N);
  d.ref.assign(static_cast<size_t>(c.M * c.ldc), kSentinel);
  d.atol.assign(d.ref.size(), 0.0);
  for (int64_t m = 0; m < c.M; ++m) {
    for (int64_t n = 0; n < c.N; ++n) {
      double sum = c.bias ? d.bias[static_cast<size_t>(n)] : 0.0;
      double magnitude = std::fabs(sum);
      for (int64_t k = 0; k < c.K; ++k) {
        const double p = static_cast<double>(d.A[static_cast<size_t>(m * c.lda + k)]) * d.B[static_cast<size_t>(k * c.ldb + n)];
        sum += p;
        magnitude += std::fabs(p);
      }
      const size_t i = static_cast<size_t>(m * c.ldc + n);
      d.ref[i] = reference_activation(c.act, sum);
      // float accumulation error grows with the sum of |terms|; activations add ~1e-6.
      d.atol[i] = 1e-5 * magnitude + 1e-6;
    }
  }
  return d;
}

std::string describe(const GemmCase& c) {
  return "M" + std::to_string(c.M) + " N" + std::to_string(c.N) + " K" + std::to_string(c.K) +
         (c.bias ? " bias " : " ") + act_name(c.act.kind);
}

std::vector<GemmCase> gemm_cases() {
  std::vector<GemmCase> cases;
  const int64_t sizes[] = {1, 7, 17, 33, 100};
  size_t i = 0;
  const auto& acts = epilogue_activations();
  for (int64_t M : sizes) {
    for (int64_t N : sizes) {
      for (int64_t K : sizes) {
        const Activation act = acts[i % acts.size()];
        const int64_t pad = static_cast<int64_t>(i % 3);  // some leading dimensions larger than the matrix
        cases.push_back({M, N, K, K + pad, N + pad, N + 2 * pad, i % 2 == 0, act});
        ++i;
      }
    }
  }
  // K > KC (256) and N > NC (512) exercise the cache blocking, K = 0 the pure epilogue.
  cases.push_back({9, 600, 300, 300, 600, 603, true, Activation::relu()});
  cases.push_back({13, 40, 520, 521, 40, 40, true, Activation::sigmoid()});
  cases.push_back({5, 20, 0, 1, 20, 20, true, Activation::clip(0.0f, 0.3f)});
  return cases;
}

// Full rows/cols computed in two disjoint pieces each, as two threads would.
void run_split(const F32GemmKernel& kernel, const GemmCase& c, const float* A, const float* packed, float* C,
               const Epilogue& ep) {
  const int64_t nr = kernel.tile_cols;
  const int64_t m_split = c.M / 3;
  const int64_t n_split = (c.N / 2) / nr * nr;
  for (Range rows : {Range{0, m_split}, Range{m_split, c.M}}) {
    for (Range cols : {Range{0, n_split}, Range{n_split, c.N}}) {
      sgemm_packed(kernel, c.K, c.N, A, c.lda, packed, C, c.ldc, ep, rows, cols);
    }
  }
}

}  // namespace

KERNEL_TEST(F32Gemm, sgemm_packed_matches_reference) {
  std::mt19937 rng(1234);
  for (const GemmCase& c : gemm_cases()) {
    const GemmData d = make_data(c, rng);
    std::vector<float> packed(static_cast<size_t>(packed_b_floats(kernel, c.K, c.N)) + 1);
    pack_b(kernel, c.K, c.N, d.B.data(), c.ldb, packed.data());
    std::vector<float> C(d.ref.size(), kSentinel);
    const Epilogue ep{c.bias ? d.bias.data() : nullptr, c.act};
    run_split(kernel, c, d.A.data(), packed.data(), C.data(), ep);
    expect_close("sgemm_packed " + describe(c), C.data(), d.ref.data(), d.atol.data(),
                 static_cast<int64_t>(C.size()), 1e-4);
  }
}

KERNEL_TEST(F32Gemm, sgemm_unpacked_matches_reference) {
  std::mt19937 rng(99);
  const int64_t nr = kernel.tile_cols;
  for (const GemmCase& c : gemm_cases()) {
    const GemmData d = make_data(c, rng);
    std::vector<float> C(d.ref.size(), kSentinel);
    const Epilogue ep{c.bias ? d.bias.data() : nullptr, c.act};
    // Second column range starts at a panel boundary; each call packs only its own columns.
    const int64_t n_split = c.N > nr ? nr : 0;
    for (Range cols : {Range{0, n_split}, Range{n_split, c.N}}) {
      std::vector<float> scratch(static_cast<size_t>(packed_b_floats(kernel, c.K, cols.size())) + 1);
      sgemm(kernel, c.K, c.N, d.A.data(), c.lda, d.B.data(), c.ldb, C.data(), c.ldc, ep, {0, c.M}, cols,
            scratch.data());
    }
    expect_close("sgemm " + describe(c), C.data(), d.ref.data(), d.atol.data(), static_cast<int64_t>(C.size()),
                 1e-4);
  }
}

KERNEL_TEST(F32Gemm, pack_b_transposed_equals_pack_b) {
  // Shapes across the transposing packer's 16-k blocks and 4 x 4 register tiles, with remainders in both
  // directions and a leading dimension past K.
  std::mt19937 rng(7);
  const int64_t shapes[][3] = {{19, 37, 19}, {64, 96, 64}, {3, 5, 3}, {33, 18, 40}, {1, 1, 1}};
  for (const auto& sh : shapes) {
    const int64_t K = sh[0], N = sh[1], ld = sh[2];
    const std::vector<float> B = random_floats(rng, K * N);
    std::vector<float> Bt(static_cast<size_t>(ld * N), -7.0f);
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t n = 0; n < N; ++n) Bt[static_cast<size_t>(n * ld + k)] = B[static_cast<size_t>(k * N + n)];
    }
    const size_t size = static_cast<size_t>(packed_b_floats(kernel, K, N));
    EXPECT_TRUE(size % static_cast<size_t>(kernel.tile_cols) == 0, "packed size not whole panels");
    std::vector<float> p1(size, 1.0f), p2(size, 2.0f);
    pack_b(kernel, K, N, B.data(), N, p1.data());
    pack_b_transposed(kernel, K, N, Bt.data(), ld, p2.data());
    EXPECT_TRUE(p1 == p2, "pack_b and pack_b_transposed disagree");
  }
}

KERNEL_TEST(F32Gemm, sgemm_rejects_bad_arguments) {
  std::vector<float> A(64, 1.0f), B(64, 1.0f), C(64, 0.0f), packed(static_cast<size_t>(packed_b_floats(kernel, 4, 4)));
  pack_b(kernel, 4, 4, B.data(), 4, packed.data());
  const Epilogue ep;
  const int64_t nr = kernel.tile_cols;
  if (nr > 1) {
    expect_invalid_argument("misaligned cols", [&] {
      sgemm_packed(kernel, 4, 4, A.data(), 4, packed.data(), C.data(), 4, ep, {0, 4}, {1, 4});
    }, "cols.begin");
  }
  expect_invalid_argument("cols past N", [&] {
    sgemm_packed(kernel, 4, 4, A.data(), 4, packed.data(), C.data(), 4, ep, {0, 4}, {0, 5});
  }, "cols");
  expect_invalid_argument("lda < K", [&] {
    sgemm_packed(kernel, 4, 4, A.data(), 3, packed.data(), C.data(), 4, ep, {0, 4}, {0, 4});
  }, "lda");
  expect_invalid_argument("null packed_b", [&] {
    sgemm_packed(kernel, 4, 4, A.data(), 4, nullptr, C.data(), 4, ep, {0, 4}, {0, 4});
  }, "packed_b is null");
  expect_invalid_argument("negative K", [&] { (void)packed_b_floats(kernel, -1, 4); }, "K must be >= 0");
  expect_invalid_argument("ldb < N", [&] { pack_b(kernel, 4, 4, B.data(), 3, packed.data()); }, "leading dimension");
}

}  // namespace slim::kernels::test
