// q8_gemm and q8_conv2d: every variant bit-exact against the scalar reference,
// and the scalar reference against a plain int64 loop written here.
#include <algorithm>
#include <cmath>
#include <vector>

#include "test_q8_util.h"

namespace slim::kernels::test {
namespace {

constexpr uint8_t kSentinelU8 = 0xA5;

struct Q8GemmCase {
  int64_t M, N, K;
  int64_t lda_pad = 0, ldc_pad = 0;
  bool bias = true;
  bool f32_output = false;
  bool clamp = false;  // a Relu6-like [qmin, qmax] instead of [0, 255]
};

std::string describe(const Q8GemmCase& c) {
  return "M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) +
         (c.bias ? " bias" : "") + (c.f32_output ? " f32" : "") + (c.clamp ? " clamp" : "");
}

// Real 1x1 layers (M = pixels, K = in, N = out) of MobileNetV2 / V3 and
// ShuffleNetV2, the im2col stem (K = 27), and odd N / K.
std::vector<Q8GemmCase> q8_gemm_cases() {
  std::vector<Q8GemmCase> cases = {
      {112 * 112, 16, 32},  {112 * 112, 96, 16},  {56 * 56, 144, 24},   {56 * 56, 24, 144},
      {28 * 28, 192, 32},   {28 * 28, 32, 192},   {14 * 14, 384, 64},   {14 * 14, 64, 384},
      {14 * 14, 576, 96},   {14 * 14, 96, 576},   {7 * 7, 960, 160},    {7 * 7, 160, 960},
      {7 * 7, 320, 960},    {7 * 7, 1280, 320},   {56 * 56, 32, 27},    {28 * 28, 116, 116},
      {14 * 14, 232, 232},  {7 * 7, 464, 464},    {7 * 7, 1024, 464},   {28 * 28, 72, 24},
      {14 * 14, 240, 40},   {14 * 14, 80, 200},   {14 * 14, 184, 80},   {14 * 14, 672, 112},
      {1, 1000, 1280},      {1, 1, 1},            {3, 5, 3},            {37, 17, 5},
      {50, 33, 13},         {9, 65, 2},           {13, 7, 1},           {23, 31, 0},
  };
  // Cycle bias / f32 output / clamp / padded leading dimensions over the shapes.
  for (size_t i = 0; i < cases.size(); ++i) {
    cases[i].bias = i % 4 != 1;
    cases[i].f32_output = i % 5 == 3;
    cases[i].clamp = i % 3 == 2;
    cases[i].lda_pad = i % 4 == 2 ? 5 : 0;
    cases[i].ldc_pad = i % 6 == 4 ? 3 : 0;
  }
  return cases;
}

struct Q8GemmData {
  std::vector<int8_t> B;      // K x N row-major
  std::vector<int32_t> bias;  // N
  std::vector<float> scale;   // N
  QEpilogue ep;
  int64_t lda, ldc;
};

Q8GemmData make_gemm_data(const Q8GemmCase& c, std::mt19937& rng) {
  Q8GemmData d;
  d.lda = c.K + c.lda_pad;
  d.ldc = c.N + c.ldc_pad;
  d.B = random_s8(rng, c.K * c.N);
  d.bias.resize(static_cast<size_t>(c.N));
  for (auto& b : d.bias) b = random_int(rng, -60000, 60000);
  d.scale.resize(static_cast<size_t>(c.N));
  // About 100 output steps per standard deviation of the sum, so outputs spread over the u8 range.
  const float base = 100.0f / (std::sqrt(static_cast<float>(c.K > 0 ? c.K : 1)) * 128.0f * 74.0f);
  for (auto& s : d.scale) s = base * random_float(rng, 0.25f, 2.0f);
  d.ep.bias = c.bias ? d.bias.data() : nullptr;
  d.ep.scale = d.scale.data();
  d.ep.zero_point = random_int(rng, 0, 255);
  d.ep.qmin = c.clamp ? random_int(rng, 0, 100) : 0;
  d.ep.qmax = c.clamp ? random_int(rng, 150, 255) : 255;
  d.ep.f32_output = c.f32_output;
  return d;
}

// The plain loop: int64 sums, then QUANTIZED.md's formula.
template <class Out>
std::vector<Out> reference_gemm(const Q8GemmCase& c, const uint8_t* A, int64_t lda, const Q8GemmData& d) {
  std::vector<Out> out(static_cast<size_t>(c.M * d.ldc), static_cast<Out>(kSentinelU8));
  for (int64_t m = 0; m < c.M; ++m) {
    for (int64_t n = 0; n < c.N; ++n) {
      int64_t acc = d.ep.bias != nullptr ? d.ep.bias[n] : 0;
      for (int64_t k = 0; k < c.K; ++k) acc += int64_t{A[m * lda + k]} * d.B[static_cast<size_t>(k * c.N + n)];
      Out& y = out[static_cast<size_t>(m * d.ldc + n)];
      if constexpr (std::is_same_v<Out, float>) {
        y = static_cast<float>(static_cast<int32_t>(acc)) * d.scale[static_cast<size_t>(n)];
      } else {
        y = static_cast<Out>(ref_requant(acc, d.scale[static_cast<size_t>(n)], d.ep.zero_point, d.ep.qmin,
                                         d.ep.qmax));
      }
    }
  }
  return out;
}

// Runs a variant over a 3 x 2 split of the work (rows anywhere, columns at a panel boundary).
template <class Out>
std::vector<Out> run_gemm(const Q8GemmKernel& k, const Q8GemmCase& c, const uint8_t* A, int64_t lda,
                          const Q8GemmData& d) {
  std::vector<int8_t> packed(static_cast<size_t>(q8_packed_b_bytes(k, c.K, c.N)) + 1);
  std::vector<int32_t> sums(static_cast<size_t>(c.N) + 1);
  q8_pack_b(k, c.K, c.N, d.B.data(), c.N, packed.data(), sums.data());
  std::vector<Out> out(static_cast<size_t>(c.M * d.ldc), static_cast<Out>(kSentinelU8));
  const int64_t nr = k.tile_cols;
  const int64_t m1 = c.M / 3, m2 = c.M - c.M / 5;
  const int64_t n_split = (c.N / 2) / nr * nr;
  for (Range rows : {Range{0, m1}, Range{m1, m2}, Range{m2, c.M}}) {
    for (Range cols : {Range{0, n_split}, Range{n_split, c.N}}) {
      q8_gemm_packed(k, c.K, c.N, A, lda, packed.data(), out.data(), d.ldc, d.ep, rows, cols);
    }
  }
  return out;
}

template <class Out>
void check_gemm_case(const Q8GemmKernel& kernel, const Q8GemmCase& c, const uint8_t* A, const Q8GemmData& d) {
  const std::vector<Out> got = run_gemm<Out>(kernel, c, A, d.lda, d);
  const std::vector<Out> ref = run_gemm<Out>(q8_gemm_4x4_scalar, c, A, d.lda, d);
  expect_equal(std::string(kernel.name) + " vs scalar " + describe(c), got, ref);
  if (&kernel == &q8_gemm_4x4_scalar) {
    expect_equal("scalar vs int64 loop " + describe(c), ref, reference_gemm<Out>(c, A, d.lda, d));
  }
}

}  // namespace

KERNEL_TEST(Q8Gemm, q8_gemm_matches_reference) {
  std::mt19937 rng(2024);
  for (const Q8GemmCase& c : q8_gemm_cases()) {
    const Q8GemmData d = make_gemm_data(c, rng);
    // A ends at an unreadable page: the last row's K % 4 tail must not be over-read.
    const int64_t a_bytes = c.M > 0 ? (c.M - 1) * d.lda + c.K : 0;
    GuardedBytes A(static_cast<size_t>(a_bytes > 0 ? a_bytes : 1));
    const std::vector<uint8_t> a = random_u8(rng, a_bytes);
    std::memcpy(A.data(), a.data(), static_cast<size_t>(a_bytes));
    if (c.f32_output) {
      check_gemm_case<float>(kernel, c, A.data(), d);
    } else {
      check_gemm_case<uint8_t>(kernel, c, A.data(), d);
    }
  }
}

// The int32 epilogue (MatMulInteger, ConvInteger): C = sum + bias with no scale, every tile shape and a
// ragged last panel; the sum wraps like int32 where bias pushes it past the range.
KERNEL_TEST(Q8Gemm, q8_gemm_int32_output) {
  std::mt19937 rng(77);
  for (const int64_t M : {int64_t{1}, int64_t{7}, int64_t{13}}) {
    for (const int64_t N : {int64_t{1}, int64_t{17}, int64_t{70}}) {
      for (const int64_t K : {int64_t{1}, int64_t{6}, int64_t{259}}) {
        const std::vector<uint8_t> A = random_u8(rng, M * K);
        const std::vector<int8_t> B = random_s8(rng, K * N);
        std::vector<int32_t> bias(static_cast<size_t>(N));
        for (int64_t n = 0; n < N; ++n) bias[static_cast<size_t>(n)] = static_cast<int32_t>(rng() % 200001) - 100000;
        bias[0] = 2147483647;  // wraps for any positive sum
        std::vector<int8_t> packed(static_cast<size_t>(q8_packed_b_bytes(kernel, K, N)));
        q8_pack_b(kernel, K, N, B.data(), N, packed.data(), nullptr);
        QEpilogue ep;
        ep.bias = bias.data();
        ep.i32_output = true;
        const int64_t ldc = N + 3;
        std::vector<int32_t> C(static_cast<size_t>(M * ldc), -5), want(C.size(), -5);
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < N; ++n) {
            uint32_t s = static_cast<uint32_t>(bias[static_cast<size_t>(n)]);
            for (int64_t k = 0; k < K; ++k)
              s += static_cast<uint32_t>(int32_t{A[static_cast<size_t>(m * K + k)]} * B[static_cast<size_t>(k * N + n)]);
            want[static_cast<size_t>(m * ldc + n)] = static_cast<int32_t>(s);
          }
        q8_gemm_packed(kernel, K, N, A.data(), K, packed.data(), C.data(), ldc, ep, {0, M}, {0, N});
        expect_equal("int32 output M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K), C,
                     want);
      }
    }
  }
}

// Round half to even on exact ties: K = 1, B = +-1, scale 0.5, so v = +-a and v * 0.5 has a .5 whenever a is odd.
KERNEL_TEST(Q8Gemm, q8_gemm_rounds_ties_to_even) {
  const int64_t M = 256, N = 2, K = 1;
  std::vector<uint8_t> A(M);
  for (int64_t m = 0; m < M; ++m) A[static_cast<size_t>(m)] = static_cast<uint8_t>(m);
  const std::vector<int8_t> B = {1, -1};
  const std::vector<float> scale = {0.5f, 0.5f};
  std::vector<int8_t> packed(static_cast<size_t>(q8_packed_b_bytes(kernel, K, N)));
  q8_pack_b(kernel, K, N, B.data(), N, packed.data(), nullptr);
  QEpilogue ep;
  ep.scale = scale.data();
  ep.zero_point = 128;
  std::vector<uint8_t> C(static_cast<size_t>(M * N));
  q8_gemm_packed(kernel, K, N, A.data(), K, packed.data(), C.data(), N, ep, {0, M}, {0, N});
  std::vector<uint8_t> want(C.size());
  for (int64_t m = 0; m < M; ++m) {
    // m / 2 rounded half to even: 1 -> 0, 3 -> 2, 5 -> 2, 7 -> 4.
    const int64_t half = (m % 4 == 1) ? m / 2 : (m % 4 == 3 ? m / 2 + 1 : m / 2);
    want[static_cast<size_t>(m * N)] = static_cast<uint8_t>(std::min<int64_t>(255, 128 + half));
    want[static_cast<size_t>(m * N + 1)] = static_cast<uint8_t>(128 - half);
  }
  expect_equal("ties to even", C, want);
  EXPECT_TRUE(C[1 * N] == 128 && C[3 * N] == 130 && C[5 * N] == 130 && C[1 * N + 1] == 128 && C[3 * N + 1] == 126,
              "0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0, -1.5 -> -2");
  // Same through the bias: v = bias + 0, bias odd.
  std::vector<int32_t> bias = {-7, 9};
  ep.bias = bias.data();
  const std::vector<uint8_t> zeros(M, 0);
  q8_gemm_packed(kernel, K, N, zeros.data(), K, packed.data(), C.data(), N, ep, {0, M}, {0, N});
  EXPECT_TRUE(C[0] == 128 - 4 && C[1] == 128 + 4, "bias -7 * 0.5 = -3.5 -> -4, 9 * 0.5 = 4.5 -> 4");
}

// The largest sums the contract allows: K = 65536 products of 255 * -128 (or * 127) stay exact in int32.
KERNEL_TEST(Q8Gemm, q8_gemm_extreme_values_do_not_overflow) {
  for (const int8_t w : {int8_t{-128}, int8_t{127}}) {
    for (const int64_t K : {int64_t{65536}, int64_t{65533}, int64_t{4099}}) {
      const int64_t M = 3, N = 5;
      const std::vector<uint8_t> A(static_cast<size_t>(M * K), 255);
      const std::vector<int8_t> B(static_cast<size_t>(K * N), w);
      std::vector<int8_t> packed(static_cast<size_t>(q8_packed_b_bytes(kernel, K, N)));
      std::vector<int32_t> sums(N);
      q8_pack_b(kernel, K, N, B.data(), N, packed.data(), sums.data());
      EXPECT_TRUE(sums[0] == K * w, "col_sums of a constant column");
      const std::vector<float> ones(N, 1.0f);
      QEpilogue ep;
      ep.scale = ones.data();
      ep.f32_output = true;
      std::vector<float> C(static_cast<size_t>(M * N));
      q8_gemm_packed(kernel, K, N, A.data(), K, packed.data(), C.data(), N, ep, {0, M}, {0, N});
      const float want = static_cast<float>(static_cast<int32_t>(K * 255 * w));
      const std::vector<float> wants(C.size(), want);
      expect_equal("f32 sum of K=" + std::to_string(K) + " x 255 x " + std::to_string(w), C, wants);
      // u8: a tiny scale brings the sum into range: exactly what the int64 computation gives.
      const std::vector<float> tiny(N, 1.0f / 65536.0f / 128.0f);
      ep.scale = tiny.data();
      ep.f32_output = false;
      ep.zero_point = 200;
      std::vector<uint8_t> Cu(static_cast<size_t>(M * N));
      q8_gemm_packed(kernel, K, N, A.data(), K, packed.data(), Cu.data(), N, ep, {0, M}, {0, N});
      const std::vector<uint8_t> wantu(Cu.size(), static_cast<uint8_t>(ref_requant(K * 255 * w, tiny[0], 200, 0, 255)));
      expect_equal("u8 sum of K=" + std::to_string(K), Cu, wantu);
    }
  }
  // A huge scale saturates at qmin / qmax instead of wrapping.
  const int64_t K = 8, N = 2;
  const std::vector<uint8_t> A(K, 255);
  const std::vector<int8_t> B = {127, -128, 127, -128, 127, -128, 127, -128, 127, -128, 127, -128, 127, -128, 127, -128};
  std::vector<int8_t> packed(static_cast<size_t>(q8_packed_b_bytes(kernel, K, N)));
  q8_pack_b(kernel, K, N, B.data(), N, packed.data(), nullptr);
  const std::vector<float> huge(N, 1e30f);
  QEpilogue ep;
  ep.scale = huge.data();
  ep.zero_point = 10;
  ep.qmin = 3;
  ep.qmax = 250;
  std::vector<uint8_t> C(N);
  q8_gemm_packed(kernel, K, N, A.data(), K, packed.data(), C.data(), N, ep, {0, 1}, {0, N});
  EXPECT_TRUE(C[0] == 250 && C[1] == 3, "huge products saturate at qmax / qmin");
}

KERNEL_TEST(Q8Gemm, q8_pack_b_transposed_equals_pack_b) {
  std::mt19937 rng(7);
  for (const int64_t K : {int64_t{19}, int64_t{1}, int64_t{64}}) {
    const int64_t N = 37;
    const std::vector<int8_t> B = random_s8(rng, K * N);
    std::vector<int8_t> Bt(static_cast<size_t>(K * N));
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t n = 0; n < N; ++n) Bt[static_cast<size_t>(n * K + k)] = B[static_cast<size_t>(k * N + n)];
    }
    const size_t size = static_cast<size_t>(q8_packed_b_bytes(kernel, K, N));
    EXPECT_TRUE(size == static_cast<size_t>((K + 3) / 4 * 4 * ((N + kernel.tile_cols - 1) / kernel.tile_cols) *
                                            kernel.tile_cols),
                "packed size is round_up(K, 4) x whole panels");
    std::vector<int8_t> p1(size, 1), p2(size, 2);
    std::vector<int32_t> s1(N, 5), s2(N, 6);
    q8_pack_b(kernel, K, N, B.data(), N, p1.data(), s1.data());
    q8_pack_b_transposed(kernel, K, N, Bt.data(), K, p2.data(), s2.data());
    EXPECT_TRUE(p1 == p2, "q8_pack_b and q8_pack_b_transposed disagree");
    EXPECT_TRUE(s1 == s2, "column sums disagree");
    for (int64_t n = 0; n < N; ++n) {
      int32_t sum = 0;
      for (int64_t k = 0; k < K; ++k) sum += B[static_cast<size_t>(k * N + n)];
      EXPECT_TRUE(s1[static_cast<size_t>(n)] == sum, "col_sums[" + std::to_string(n) + "]");
    }
  }
}

KERNEL_TEST(Q8Gemm, q8_gemm_rejects_bad_arguments) {
  std::vector<uint8_t> A(64, 1), C(64, 0);
  std::vector<int8_t> B(64, 1), packed(static_cast<size_t>(q8_packed_b_bytes(kernel, 4, 4)));
  q8_pack_b(kernel, 4, 4, B.data(), 4, packed.data(), nullptr);
  const std::vector<float> scale(4, 1.0f);
  QEpilogue ep;
  ep.scale = scale.data();
  const int64_t nr = kernel.tile_cols;
  if (nr > 1) {
    expect_invalid_argument("misaligned cols", [&] {
      q8_gemm_packed(kernel, 4, 4, A.data(), 4, packed.data(), C.data(), 4, ep, {0, 4}, {1, 4});
    }, "cols.begin");
  }
  expect_invalid_argument("cols past N", [&] {
    q8_gemm_packed(kernel, 4, 4, A.data(), 4, packed.data(), C.data(), 4, ep, {0, 4}, {0, 5});
  }, "cols");
  expect_invalid_argument("lda < K", [&] {
    q8_gemm_packed(kernel, 4, 4, A.data(), 3, packed.data(), C.data(), 4, ep, {0, 4}, {0, 4});
  }, "lda");
  expect_invalid_argument("null packed_b", [&] {
    q8_gemm_packed(kernel, 4, 4, A.data(), 4, nullptr, C.data(), 4, ep, {0, 4}, {0, 4});
  }, "packed_b is null");
  QEpilogue no_scale;
  expect_invalid_argument("null scale", [&] {
    q8_gemm_packed(kernel, 4, 4, A.data(), 4, packed.data(), C.data(), 4, no_scale, {0, 4}, {0, 4});
  }, "ep.scale");
  QEpilogue bad_clamp = ep;
  bad_clamp.qmin = 200;
  bad_clamp.qmax = 100;
  expect_invalid_argument("qmin > qmax", [&] {
    q8_gemm_packed(kernel, 4, 4, A.data(), 4, packed.data(), C.data(), 4, bad_clamp, {0, 4}, {0, 4});
  }, "qmin");
  expect_invalid_argument("K too large", [&] {
    q8_gemm_packed(kernel, 70000, 4, A.data(), 70000, packed.data(), C.data(), 4, ep, {0, 4}, {0, 4});
  }, "K 70000");
  expect_invalid_argument("negative K", [&] { (void)q8_packed_b_bytes(kernel, -1, 4); }, "K must be >= 0");
  expect_invalid_argument("ldb < N", [&] { q8_pack_b(kernel, 4, 4, B.data(), 3, packed.data(), nullptr); },
                          "leading dimension");
}

// ---------------------------------------------------------------------------
// Convolution through the GEMM
// ---------------------------------------------------------------------------

namespace {

Conv2dShape q8_conv_shape(int64_t batch, int64_t h, int64_t w, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                          int64_t pad, int64_t groups = 1) {
  Conv2dShape s;
  s.batch = batch;
  s.in_h = h;
  s.in_w = w;
  s.in_c = cin;
  s.out_c = cout;
  s.kernel_h = s.kernel_w = k;
  s.stride_h = s.stride_w = stride;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = pad;
  s.groups = groups;
  return s;
}

std::string describe(const Conv2dShape& s) {
  return std::to_string(s.batch) + "x" + std::to_string(s.in_h) + "x" + std::to_string(s.in_w) + "x" +
         std::to_string(s.in_c) + "->" + std::to_string(s.out_c) + " k" + std::to_string(s.kernel_h) + "x" +
         std::to_string(s.kernel_w) + " s" + std::to_string(s.stride_h) + " p" + std::to_string(s.pad_top) +
         std::to_string(s.pad_left) + std::to_string(s.pad_bottom) + std::to_string(s.pad_right) + " d" +
         std::to_string(s.dilation_h) + " g" + std::to_string(s.groups);
}

struct Q8ConvData {
  std::vector<uint8_t> input;
  std::vector<int8_t> w;      // OIHW
  std::vector<int32_t> bias;  // the op's bias, before folding
  std::vector<float> scale;
  int32_t x_zp;
  QEpilogue ep;  // bias not yet set
};

Q8ConvData make_conv_data(const Conv2dShape& s, std::mt19937& rng) {
  Q8ConvData d;
  d.input = random_u8(rng, s.batch * s.in_h * s.in_w * s.in_c);
  const int64_t k = s.kernel_h * s.kernel_w * (s.in_c / s.groups);
  d.w = random_s8(rng, s.out_c * k);
  d.bias.resize(static_cast<size_t>(s.out_c));
  for (auto& b : d.bias) b = random_int(rng, -20000, 20000);
  const float base = 100.0f / (std::sqrt(static_cast<float>(k)) * 74.0f * 74.0f);
  d.scale.resize(static_cast<size_t>(s.out_c));
  for (auto& x : d.scale) x = base * random_float(rng, 0.5f, 2.0f);
  d.x_zp = random_int(rng, 0, 255);
  d.ep.scale = d.scale.data();
  d.ep.zero_point = random_int(rng, 0, 255);
  d.ep.qmin = random_int(rng, 0, 30);
  d.ep.qmax = random_int(rng, 200, 255);
  return d;
}

// What QLinearConv means: sum over in-image taps of (x - x_zp) * w + bias (padding is a real zero).
std::vector<uint8_t> reference_conv(const Conv2dShape& s, const Q8ConvData& d) {
  const int64_t Ho = s.out_h(), Wo = s.out_w(), cin_g = s.in_c / s.groups, cout_g = s.out_c / s.groups;
  std::vector<uint8_t> out(static_cast<size_t>(s.out_pixels() * s.out_c));
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t ho = 0; ho < Ho; ++ho) {
      for (int64_t wo = 0; wo < Wo; ++wo) {
        for (int64_t o = 0; o < s.out_c; ++o) {
          const int64_t g = o / cout_g;
          int64_t acc = d.bias[static_cast<size_t>(o)];
          for (int64_t ci = 0; ci < cin_g; ++ci) {
            for (int64_t i = 0; i < s.kernel_h; ++i) {
              for (int64_t j = 0; j < s.kernel_w; ++j) {
                const int64_t hi = ho * s.stride_h - s.pad_top + i * s.dilation_h;
                const int64_t wi = wo * s.stride_w - s.pad_left + j * s.dilation_w;
                if (hi < 0 || hi >= s.in_h || wi < 0 || wi >= s.in_w) continue;
                const int64_t x = d.input[static_cast<size_t>(((n * s.in_h + hi) * s.in_w + wi) * s.in_c + g * cin_g + ci)];
                acc += (x - d.x_zp) * d.w[static_cast<size_t>(((o * cin_g + ci) * s.kernel_h + i) * s.kernel_w + j)];
              }
            }
          }
          out[static_cast<size_t>(((n * Ho + ho) * Wo + wo) * s.out_c + o)] = static_cast<uint8_t>(
              ref_requant(acc, d.scale[static_cast<size_t>(o)], d.ep.zero_point, d.ep.qmin, d.ep.qmax));
        }
      }
    }
  }
  return out;
}

// As an op would run it: pack with column sums, fold -x_zp * col_sums into the bias, split the pixels.
std::vector<uint8_t> run_conv(const Q8GemmKernel& k, const Conv2dShape& s, const Q8ConvData& d) {
  std::vector<int8_t> packed(static_cast<size_t>(q8_conv2d_packed_weight_bytes(k, s)) + 1);
  std::vector<int32_t> sums(static_cast<size_t>(s.out_c));
  q8_conv2d_pack_weights(k, s, d.w.data(), packed.data(), sums.data());
  std::vector<int32_t> bias(static_cast<size_t>(s.out_c));
  for (size_t o = 0; o < bias.size(); ++o) bias[o] = d.bias[o] - d.x_zp * sums[o];
  QEpilogue ep = d.ep;
  ep.bias = bias.data();
  std::vector<uint8_t> scratch(static_cast<size_t>(q8_conv2d_scratch_bytes(k, s)) + 1);
  std::vector<uint8_t> out(static_cast<size_t>(s.out_pixels() * s.out_c), kSentinelU8);
  const int64_t P = s.out_pixels();
  for (Range r : {Range{0, P / 3}, Range{P / 3, P / 2}, Range{P / 2, P}}) {
    q8_conv2d(k, s, d.input.data(), static_cast<uint8_t>(d.x_zp), packed.data(), out.data(), ep, r, scratch.data());
  }
  return out;
}

}  // namespace

KERNEL_TEST(Q8Gemm, q8_conv2d_matches_reference) {
  std::mt19937 rng(77);
  std::vector<Conv2dShape> shapes = {
      q8_conv_shape(1, 32, 32, 3, 16, 3, 2, 1),   // MobileNet stem (K = 27)
      q8_conv_shape(1, 28, 28, 3, 24, 3, 2, 1),   // ShuffleNetV2 stem
      q8_conv_shape(1, 14, 14, 32, 48, 3, 1, 1),  // dense 3x3 with padding
      q8_conv_shape(2, 7, 9, 24, 40, 1, 1, 0),    // 1x1 read in place, batch 2
      q8_conv_shape(1, 15, 15, 16, 24, 1, 2, 0),  // 1x1 stride 2 (im2col)
      q8_conv_shape(1, 12, 10, 8, 12, 3, 1, 1, 2),  // grouped
      q8_conv_shape(1, 9, 9, 6, 9, 5, 2, 2, 3),     // grouped 5x5 stride 2
      q8_conv_shape(1, 6, 6, 5, 7, 7, 1, 4),        // pads wider than half the kernel
      q8_conv_shape(1, 5, 5, 4, 4, 3, 1, 1, 4),     // depthwise shape through the GEMM
      // im2col's patch rows of kernel_w * in_c bytes: 3 (byte loop), 10, 18
      // and 35 (overlapping pieces); more pixels than one im2col block; a
      // batch whose pixel ranges cross images.
      q8_conv_shape(1, 10, 11, 1, 8, 3, 1, 1),
      q8_conv_shape(1, 9, 12, 2, 8, 5, 2, 2),
      q8_conv_shape(1, 8, 9, 6, 8, 3, 1, 1),
      q8_conv_shape(1, 10, 10, 5, 8, 7, 2, 3),
      q8_conv_shape(1, 112, 112, 3, 8, 3, 2, 1),
      q8_conv_shape(3, 9, 7, 3, 16, 3, 2, 1),
  };
  Conv2dShape asym = q8_conv_shape(1, 11, 13, 7, 10, 3, 2, 0);
  asym.pad_top = 2;
  asym.pad_left = 0;
  asym.pad_bottom = 1;
  asym.pad_right = 3;
  shapes.push_back(asym);
  Conv2dShape dil = q8_conv_shape(1, 12, 12, 9, 11, 3, 1, 2);
  dil.dilation_h = dil.dilation_w = 2;
  shapes.push_back(dil);
  for (const Conv2dShape& s : shapes) {
    const Q8ConvData d = make_conv_data(s, rng);
    const std::vector<uint8_t> got = run_conv(kernel, s, d);
    expect_equal(std::string(kernel.name) + " vs scalar " + describe(s), got, run_conv(q8_gemm_4x4_scalar, s, d));
    if (&kernel == &q8_gemm_4x4_scalar) expect_equal("scalar vs int64 loop " + describe(s), got, reference_conv(s, d));
  }
}

KERNEL_TEST(Q8Gemm, q8_conv2d_rejects_bad_arguments) {
  const Conv2dShape s = q8_conv_shape(1, 4, 4, 2, 2, 3, 1, 1);
  std::vector<uint8_t> in(64), out(64), scratch(static_cast<size_t>(q8_conv2d_scratch_bytes(kernel, s)) + 1);
  std::vector<int8_t> packed(static_cast<size_t>(q8_conv2d_packed_weight_bytes(kernel, s)));
  const std::vector<float> scale(2, 1.0f);
  QEpilogue ep;
  ep.scale = scale.data();
  expect_invalid_argument("pixels past the end", [&] {
    q8_conv2d(kernel, s, in.data(), 0, packed.data(), out.data(), ep, {0, 17}, scratch.data());
  }, "pixels");
  expect_invalid_argument("null scratch", [&] {
    q8_conv2d(kernel, s, in.data(), 0, packed.data(), out.data(), ep, {0, 16}, nullptr);
  }, "scratch is null");
  QEpilogue f32 = ep;
  f32.f32_output = true;
  expect_invalid_argument("f32 output", [&] {
    q8_conv2d(kernel, s, in.data(), 0, packed.data(), out.data(), f32, {0, 16}, scratch.data());
  }, "f32_output");
  Conv2dShape bad = s;
  bad.groups = 3;
  expect_invalid_argument("groups", [&] { (void)q8_conv2d_packed_weight_bytes(kernel, bad); }, "groups");
}

}  // namespace slim::kernels::test
