// q8_dwconv: every variant bit-exact against the scalar reference, and the
// scalar reference against a plain int64 loop written here.
#include <cmath>
#include <vector>

#include "test_q8_util.h"

namespace slim::kernels::test {
namespace {

Conv2dShape dw_shape(int64_t batch, int64_t h, int64_t w, int64_t c, int64_t k, int64_t stride, int64_t pad) {
  Conv2dShape s;
  s.batch = batch;
  s.in_h = h;
  s.in_w = w;
  s.in_c = s.out_c = s.groups = c;
  s.kernel_h = s.kernel_w = k;
  s.stride_h = s.stride_w = stride;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = pad;
  return s;
}

std::string describe(const Conv2dShape& s) {
  return std::to_string(s.batch) + "x" + std::to_string(s.in_h) + "x" + std::to_string(s.in_w) + " c" +
         std::to_string(s.in_c) + " k" + std::to_string(s.kernel_h) + "x" + std::to_string(s.kernel_w) + " s" +
         std::to_string(s.stride_h) + "," + std::to_string(s.stride_w) + " p" + std::to_string(s.pad_top) +
         std::to_string(s.pad_left) + std::to_string(s.pad_bottom) + std::to_string(s.pad_right) + " d" +
         std::to_string(s.dilation_h);
}

struct DwData {
  std::vector<uint8_t> input;
  std::vector<int8_t> w;  // [C, 1, kh, kw]
  std::vector<int32_t> bias;
  std::vector<float> scale;
  int32_t x_zp = 0;
  bool has_bias = true;
  QEpilogue ep;
};

DwData make_dw_data(const Conv2dShape& s, std::mt19937& rng, bool has_bias) {
  DwData d;
  d.input = random_u8(rng, s.batch * s.in_h * s.in_w * s.in_c);
  d.w = random_s8(rng, s.in_c * s.kernel_h * s.kernel_w);
  d.bias.resize(static_cast<size_t>(s.in_c));
  for (auto& b : d.bias) b = random_int(rng, -30000, 30000);
  const float base = 100.0f / (std::sqrt(static_cast<float>(s.kernel_h * s.kernel_w)) * 74.0f * 74.0f);
  d.scale.resize(static_cast<size_t>(s.in_c));
  for (auto& x : d.scale) x = base * random_float(rng, 0.5f, 2.0f);
  d.x_zp = random_int(rng, 0, 255);
  d.has_bias = has_bias;
  d.ep.scale = d.scale.data();
  d.ep.zero_point = random_int(rng, 0, 255);
  d.ep.qmin = random_int(rng, 0, 2) == 0 ? random_int(rng, 0, 60) : 0;
  d.ep.qmax = random_int(rng, 0, 2) == 0 ? random_int(rng, 180, 255) : 255;
  return d;
}

// QLinearConv's meaning: sum over in-image taps of (x - x_zp) * w (+ bias).
std::vector<uint8_t> reference_dw(const Conv2dShape& s, const DwData& d) {
  const int64_t Ho = s.out_h(), Wo = s.out_w(), C = s.in_c;
  std::vector<uint8_t> out(static_cast<size_t>(s.out_pixels() * C));
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t ho = 0; ho < Ho; ++ho) {
      for (int64_t wo = 0; wo < Wo; ++wo) {
        for (int64_t c = 0; c < C; ++c) {
          int64_t acc = d.has_bias ? d.bias[static_cast<size_t>(c)] : 0;
          for (int64_t i = 0; i < s.kernel_h; ++i) {
            for (int64_t j = 0; j < s.kernel_w; ++j) {
              const int64_t hi = ho * s.stride_h - s.pad_top + i * s.dilation_h;
              const int64_t wi = wo * s.stride_w - s.pad_left + j * s.dilation_w;
              if (hi < 0 || hi >= s.in_h || wi < 0 || wi >= s.in_w) continue;
              const int64_t x = d.input[static_cast<size_t>(((n * s.in_h + hi) * s.in_w + wi) * C + c)];
              acc += (x - d.x_zp) * d.w[static_cast<size_t>((c * s.kernel_h + i) * s.kernel_w + j)];
            }
          }
          out[static_cast<size_t>(((n * Ho + ho) * Wo + wo) * C + c)] = static_cast<uint8_t>(
              ref_requant(acc, d.scale[static_cast<size_t>(c)], d.ep.zero_point, d.ep.qmin, d.ep.qmax));
        }
      }
    }
  }
  return out;
}

// As an op would run it: fold -x_zp * col_sums into the bias, pad with x_zp, split the output rows.
std::vector<uint8_t> run_dw(const Q8DwconvKernel& k, const Conv2dShape& s, const DwData& d) {
  std::vector<int8_t> packed(static_cast<size_t>(q8_depthwise_packed_weight_bytes(s)));
  std::vector<int32_t> sums(static_cast<size_t>(s.in_c));
  q8_depthwise_pack_weights(s, d.w.data(), packed.data(), sums.data());
  std::vector<int32_t> bias(static_cast<size_t>(s.in_c));
  for (size_t c = 0; c < bias.size(); ++c) bias[c] = (d.has_bias ? d.bias[c] : 0) - d.x_zp * sums[c];
  QEpilogue ep = d.ep;
  ep.bias = bias.data();
  std::vector<uint8_t> out(static_cast<size_t>(s.out_pixels() * s.in_c), 0xA5);
  const int64_t R = s.out_rows();
  for (Range r : {Range{0, R / 3}, Range{R / 3, R - 1}, Range{R - 1, R}}) {
    q8_depthwise_conv2d(k, s, d.input.data(), static_cast<uint8_t>(d.x_zp), packed.data(), out.data(), ep, r);
  }
  return out;
}

}  // namespace

KERNEL_TEST(Q8Dwconv, q8_depthwise_conv2d_matches_reference) {
  std::mt19937 rng(31);
  std::vector<Conv2dShape> shapes;
  // MobileNetV2 / V3 / ShuffleNetV2 depthwise layers (spatial sizes cut where the channel count is small).
  for (const int64_t c : {16, 24, 32, 96, 144, 960, 17}) {
    const int64_t hw = c >= 960 ? 7 : (c >= 96 ? 14 : 28);
    for (const int64_t k : {3, 5}) {
      for (const int64_t stride : {1, 2}) shapes.push_back(dw_shape(1, hw, hw, c, k, stride, k / 2));
    }
  }
  shapes.push_back(dw_shape(1, 112, 112, 32, 3, 1, 1));
  shapes.push_back(dw_shape(1, 112, 112, 96, 3, 2, 1));
  shapes.push_back(dw_shape(2, 9, 7, 58, 3, 2, 1));   // ShuffleNetV2, batch 2
  shapes.push_back(dw_shape(1, 8, 8, 72, 5, 2, 2));   // MobileNetV3
  shapes.push_back(dw_shape(1, 6, 5, 40, 1, 1, 0));   // 1x1 (generic path)
  shapes.push_back(dw_shape(1, 4, 4, 33, 5, 1, 4));   // pads as wide as the kernel
  Conv2dShape asym = dw_shape(1, 13, 11, 48, 3, 2, 0);
  asym.pad_top = 0;
  asym.pad_left = 1;
  asym.pad_bottom = 2;
  asym.pad_right = 1;
  asym.stride_w = 1;
  shapes.push_back(asym);
  Conv2dShape rect = dw_shape(1, 10, 12, 20, 3, 1, 1);
  rect.kernel_w = 5;
  rect.pad_left = rect.pad_right = 2;
  shapes.push_back(rect);
  Conv2dShape dil = dw_shape(1, 12, 12, 24, 3, 1, 2);
  dil.dilation_h = dil.dilation_w = 2;
  shapes.push_back(dil);
  // The integer kernels' channel blocks (64 / 32 / 16 and partial tails),
  // output runs (4 pixels for 3x3, 2 for 5x5) with leftovers, strides other
  // than 1 and 2, rows narrower than a run, batches crossing images.
  for (const int64_t c : {1, 8, 48, 80, 112, 200, 64 + 63}) shapes.push_back(dw_shape(1, 9, 23, c, 3, 1, 1));
  shapes.push_back(dw_shape(1, 11, 26, 144, 3, 2, 1));
  shapes.push_back(dw_shape(1, 10, 19, 96, 5, 2, 2));
  shapes.push_back(dw_shape(1, 10, 17, 40, 5, 1, 2));
  shapes.push_back(dw_shape(1, 13, 13, 72, 3, 3, 1));
  shapes.push_back(dw_shape(1, 12, 17, 24, 5, 3, 2));
  shapes.push_back(dw_shape(3, 5, 3, 160, 3, 1, 1));
  shapes.push_back(dw_shape(2, 6, 2, 33, 5, 1, 2));
  Conv2dShape nopad = dw_shape(1, 9, 30, 64, 3, 1, 0);
  nopad.stride_h = 2;
  shapes.push_back(nopad);
  size_t i = 0;
  for (const Conv2dShape& s : shapes) {
    const DwData d = make_dw_data(s, rng, i++ % 3 != 2);
    const std::vector<uint8_t> got = run_dw(kernel, s, d);
    expect_equal(std::string(kernel.name) + " vs scalar " + describe(s), got, run_dw(q8_dwconv_1c_scalar, s, d));
    if (&kernel == &q8_dwconv_1c_scalar) expect_equal("scalar vs int64 loop " + describe(s), got, reference_dw(s, d));
  }
}

// The fp32 sum is exact up to 514 taps: 22 x 22 windows of 255 * -128 (the
// padding reads 255 too) reach -15.8M, still an exact float. The bias cancels
// the sum but for 37, so an error of one unit anywhere changes the output.
KERNEL_TEST(Q8Dwconv, q8_depthwise_conv2d_extreme_values_are_exact) {
  for (const int8_t wv : {int8_t{-128}, int8_t{127}}) {
    const Conv2dShape s = dw_shape(1, 24, 24, 19, 22, 1, 3);
    const std::vector<uint8_t> input(static_cast<size_t>(24 * 24 * 19), 255);
    const std::vector<int8_t> w(static_cast<size_t>(19 * 22 * 22), wv);
    const int64_t sum = int64_t{484} * 255 * wv;
    const std::vector<int32_t> bias(19, static_cast<int32_t>(37 - sum));
    const std::vector<float> scale(19, 1.0f);
    QEpilogue ep;
    ep.bias = bias.data();
    ep.scale = scale.data();
    ep.zero_point = 100;
    std::vector<int8_t> packed(static_cast<size_t>(q8_depthwise_packed_weight_bytes(s)));
    q8_depthwise_pack_weights(s, w.data(), packed.data(), nullptr);
    std::vector<uint8_t> out(static_cast<size_t>(s.out_pixels() * 19));
    q8_depthwise_conv2d(kernel, s, input.data(), 255, packed.data(), out.data(), ep, {0, s.out_rows()});
    expect_equal("22x22 window of 255 * " + std::to_string(wv), out, std::vector<uint8_t>(out.size(), 137));
  }
  // The same on the integer kernels' windows (3x3, 5x5), with the padding
  // and the interior: 255 * -128 is the one product of u8 x s8 that needs
  // the full 16-bit range, and VNNI's vpdpbusd must not saturate.
  for (const int64_t k : {3, 5}) {
    for (const int8_t wv : {int8_t{-128}, int8_t{127}}) {
      const Conv2dShape s = dw_shape(1, 9, 21, 136, k, 1, k / 2);
      const std::vector<uint8_t> input(static_cast<size_t>(9 * 21 * 136), 255);
      const std::vector<int8_t> w(static_cast<size_t>(136 * k * k), wv);
      const int64_t sum = k * k * int64_t{255} * wv;
      const std::vector<int32_t> bias(136, static_cast<int32_t>(37 - sum));
      const std::vector<float> scale(136, 1.0f);
      QEpilogue ep;
      ep.bias = bias.data();
      ep.scale = scale.data();
      ep.zero_point = 100;
      std::vector<int8_t> packed(static_cast<size_t>(q8_depthwise_packed_weight_bytes(s)));
      q8_depthwise_pack_weights(s, w.data(), packed.data(), nullptr);
      std::vector<uint8_t> out(static_cast<size_t>(s.out_pixels() * 136));
      q8_depthwise_conv2d(kernel, s, input.data(), 255, packed.data(), out.data(), ep, {0, s.out_rows()});
      expect_equal(std::to_string(k) + "x" + std::to_string(k) + " window of 255 * " + std::to_string(wv), out,
                   std::vector<uint8_t>(out.size(), 137));
    }
  }
  Conv2dShape big = dw_shape(1, 24, 24, 4, 23, 1, 11);
  expect_invalid_argument("529 taps", [&] { (void)q8_depthwise_packed_weight_bytes(big); }, "taps");
}

// Ties: a 1x1 depthwise with w = 1 and scale 0.5 gives v = x + bias, rounded half to even.
KERNEL_TEST(Q8Dwconv, q8_depthwise_conv2d_rounds_ties_to_even) {
  Conv2dShape s = dw_shape(1, 1, 4, 3, 1, 1, 0);
  const std::vector<uint8_t> in = {1, 3, 5, 7, 9, 11, 0, 2, 4, 13, 15, 17};
  const std::vector<int8_t> w = {1, 1, -1};
  const std::vector<float> scale(3, 0.5f);
  const std::vector<int32_t> bias = {0, 0, 0};
  QEpilogue ep;
  ep.scale = scale.data();
  ep.bias = bias.data();
  ep.zero_point = 100;
  std::vector<uint8_t> out(12);
  q8_depthwise_conv2d(kernel, s, in.data(), 0, w.data(), out.data(), ep, {0, 1});
  std::vector<uint8_t> want(12);
  for (size_t i = 0; i < 12; ++i) {
    const int64_t v = (i % 3 == 2 ? -1 : 1) * int64_t{in[i]};
    want[i] = static_cast<uint8_t>(ref_requant(v, 0.5f, 100, 0, 255));
  }
  expect_equal("ties", out, want);
  EXPECT_TRUE(out[0] == 100 && out[1] == 102 && out[2] == 98, "0.5 -> 0, 1.5 -> 2, -2.5 -> -2");
}

KERNEL_TEST(Q8Dwconv, q8_depthwise_conv2d_rejects_bad_arguments) {
  const Conv2dShape s = dw_shape(1, 4, 4, 8, 3, 1, 1);
  std::vector<uint8_t> in(128), out(128);
  std::vector<int8_t> packed(72);
  const std::vector<float> scale(8, 1.0f);
  QEpilogue ep;
  ep.scale = scale.data();
  Conv2dShape dense = s;
  dense.groups = 1;
  expect_invalid_argument("not depthwise", [&] { (void)q8_depthwise_packed_weight_bytes(dense); }, "depthwise");
  expect_invalid_argument("rows", [&] {
    q8_depthwise_conv2d(kernel, s, in.data(), 0, packed.data(), out.data(), ep, {0, 5});
  }, "rows");
  QEpilogue no_scale;
  expect_invalid_argument("null scale", [&] {
    q8_depthwise_conv2d(kernel, s, in.data(), 0, packed.data(), out.data(), no_scale, {0, 4});
  }, "ep.scale");
  QEpilogue bad_zp = ep;
  bad_zp.zero_point = 300;
  expect_invalid_argument("zero point", [&] {
    q8_depthwise_conv2d(kernel, s, in.data(), 0, packed.data(), out.data(), bad_zp, {0, 4});
  }, "zero_point");
}

}  // namespace slim::kernels::test
