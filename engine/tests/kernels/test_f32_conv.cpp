// NHWC convolution (GEMM-based and depthwise) against a direct double-precision reference.
#include <cmath>
#include <vector>

#include "test_util.h"

namespace slim::kernels::test {
namespace {

constexpr float kSentinel = -555.0f;

struct ConvCase {
  Conv2dShape s;
  bool bias;
  Activation act;
};

struct ConvData {
  std::vector<float> input, weights, bias;  // NHWC, OIHW, [out_c]
  std::vector<double> ref, atol;            // NHWC output plus one guard element
};

ConvData make_data(const ConvCase& c, std::mt19937& rng) {
  const Conv2dShape& s = c.s;
  ConvData d;
  d.input = random_floats(rng, s.batch * s.in_h * s.in_w * s.in_c);
  const int64_t cin_g = s.in_c / s.groups, cout_g = s.out_c / s.groups;
  d.weights = random_floats(rng, s.out_c * cin_g * s.kernel_h * s.kernel_w);
  if (c.bias) d.bias = random_floats(rng, s.out_c);
  const int64_t Ho = s.out_h(), Wo = s.out_w();
  d.ref.assign(static_cast<size_t>(s.out_pixels() * s.out_c + 1), kSentinel);
  d.atol.assign(d.ref.size(), 0.0);
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t ho = 0; ho < Ho; ++ho) {
      for (int64_t wo = 0; wo < Wo; ++wo) {
        for (int64_t o = 0; o < s.out_c; ++o) {
          const int64_t g = o / cout_g;
          double sum = c.bias ? d.bias[static_cast<size_t>(o)] : 0.0;
          double magnitude = std::fabs(sum);
          for (int64_t ci = 0; ci < cin_g; ++ci) {
            for (int64_t i = 0; i < s.kernel_h; ++i) {
              for (int64_t j = 0; j < s.kernel_w; ++j) {
                const int64_t hi = ho * s.stride_h - s.pad_top + i * s.dilation_h;
                const int64_t wi = wo * s.stride_w - s.pad_left + j * s.dilation_w;
                if (hi < 0 || hi >= s.in_h || wi < 0 || wi >= s.in_w) continue;
                const double x = d.input[static_cast<size_t>(((n * s.in_h + hi) * s.in_w + wi) * s.in_c + g * cin_g + ci)];
                const double w = d.weights[static_cast<size_t>(((o * cin_g + ci) * s.kernel_h + i) * s.kernel_w + j)];
                sum += x * w;
                magnitude += std::fabs(x * w);
              }
            }
          }
          const size_t idx = static_cast<size_t>(((n * Ho + ho) * Wo + wo) * s.out_c + o);
          d.ref[idx] = reference_activation(c.act, sum);
          d.atol[idx] = 1e-5 * magnitude + 1e-6;
        }
      }
    }
  }
  return d;
}

Conv2dShape shape(int64_t batch, int64_t h, int64_t w, int64_t cin, int64_t cout, int64_t k, int64_t stride,
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

Conv2dShape with_pads(Conv2dShape s, int64_t top, int64_t left, int64_t bottom, int64_t right) {
  s.pad_top = top;
  s.pad_left = left;
  s.pad_bottom = bottom;
  s.pad_right = right;
  return s;
}

Conv2dShape with_dilation(Conv2dShape s, int64_t dh, int64_t dw) {
  s.dilation_h = dh;
  s.dilation_w = dw;
  return s;
}

std::string describe(const ConvCase& c) {
  const Conv2dShape& s = c.s;
  return "N" + std::to_string(s.batch) + " " + std::to_string(s.in_h) + "x" + std::to_string(s.in_w) + "x" +
         std::to_string(s.in_c) + "->" + std::to_string(s.out_c) + " k" + std::to_string(s.kernel_h) + "x" +
         std::to_string(s.kernel_w) + " s" + std::to_string(s.stride_h) + "," + std::to_string(s.stride_w) +
         " p" + std::to_string(s.pad_top) + std::to_string(s.pad_left) + std::to_string(s.pad_bottom) +
         std::to_string(s.pad_right) + " d" + std::to_string(s.dilation_h) + " g" + std::to_string(s.groups) +
         (c.bias ? " bias " : " ") + act_name(c.act.kind);
}

std::vector<ConvCase> dense_cases() {
  return {
      {shape(1, 5, 7, 17, 33, 1, 1, 0), true, Activation::relu()},                          // pointwise, direct
      {shape(2, 4, 3, 8, 40, 1, 1, 0), false, Activation::none()},                          // pointwise, batch 2
      {shape(1, 9, 8, 7, 12, 1, 2, 0), true, Activation::clip(0.0f, 6.0f)},                 // strided 1x1
      {shape(1, 8, 9, 3, 16, 3, 2, 1), true, Activation::hard_swish()},                     // stem-like
      {shape(2, 6, 5, 5, 9, 3, 1, 1), true, Activation::sigmoid()},
      {with_pads(shape(1, 7, 6, 6, 11, 3, 2, 0), 0, 1, 1, 0), true, Activation::leaky_relu(0.1f)},
      {with_dilation(shape(1, 9, 10, 4, 7, 3, 1, 2), 2, 2), false, Activation::silu()},
      {shape(1, 7, 7, 3, 5, 5, 1, 2), true, Activation::gelu()},
      {shape(1, 1, 1, 20, 13, 1, 1, 0), true, Activation::tanh()},                          // 1x1 spatial
      {shape(1, 1, 1, 6, 4, 3, 1, 1), true, Activation::none()},                            // 1x1 spatial, padded 3x3
      {shape(1, 6, 6, 6, 4, 3, 1, 1, 2), true, Activation::relu()},                         // grouped
      {shape(1, 5, 5, 12, 12, 1, 1, 0, 3), true, Activation::none()},                       // grouped pointwise
      {shape(1, 6, 7, 10, 10, 3, 1, 1, 10), true, Activation::relu()},                      // depthwise via GEMM
      {shape(1, 30, 30, 16, 8, 3, 1, 1), false, Activation::none()},                        // several im2col blocks
      // wide outputs with few input channels read the input one kernel row at a time
      {shape(1, 40, 37, 3, 16, 3, 2, 1), true, Activation::hard_swish()},                   // MobileNetV3 stem
      {shape(1, 35, 40, 3, 64, 7, 2, 3), true, Activation::relu()},                         // ResNet stem, 2 panels
      {with_dilation(shape(2, 12, 20, 4, 40, 3, 1, 1), 2, 1), false, Activation::silu()},   // batch 2, dilated rows
      {with_pads(shape(1, 3, 18, 3, 8, 3, 1, 0), 3, 1, 3, 1), true, Activation::sigmoid()}, // rows all in padding
      {shape(1, 9, 9, 3, 40, 3, 2, 1), true, Activation::relu()},                           // same packing, narrow
  };
}

std::vector<ConvCase> depthwise_cases() {
  std::vector<ConvCase> cases;
  const auto& acts = epilogue_activations();
  size_t i = 0;
  const auto add = [&](Conv2dShape s) {
    cases.push_back({s, i % 3 != 2, acts[i % acts.size()]});
    ++i;
  };
  for (int64_t c : {1, 5, 16, 17, 33, 40}) {
    add(shape(1, 9, 7, c, c, 3, 1, 1, c));
    add(shape(1, 10, 9, c, c, 3, 2, 1, c));
    add(shape(2, 8, 8, c, c, 5, 1, 2, c));
    add(shape(1, 11, 9, c, c, 5, 2, 2, c));
  }
  add(with_pads(shape(1, 8, 8, 24, 24, 3, 2, 0, 24), 0, 0, 1, 1));  // TF-style asymmetric "same"
  add(with_pads(shape(1, 7, 6, 19, 19, 5, 1, 0, 19), 2, 1, 0, 3));
  add(shape(1, 3, 2, 8, 8, 3, 1, 1, 8));                            // smaller than the kernel
  add(shape(1, 1, 1, 20, 20, 3, 1, 1, 20));                         // 1x1 spatial
  add(shape(1, 4, 4, 16, 16, 3, 1, 0, 16));                         // no padding
  add(with_dilation(shape(1, 9, 9, 18, 18, 3, 1, 2, 18), 2, 2));    // generic: dilation
  add(shape(1, 9, 8, 9, 9, 7, 2, 3, 9));                            // generic: 7x7
  add(shape(1, 5, 6, 21, 21, 1, 1, 0, 21));                         // generic: 1x1
  return cases;
}

}  // namespace

KERNEL_TEST(F32Gemm, conv2d_matches_reference) {
  std::mt19937 rng(42);
  for (const ConvCase& c : dense_cases()) {
    const Conv2dShape& s = c.s;
    const ConvData d = make_data(c, rng);
    std::vector<float> packed(static_cast<size_t>(conv2d_packed_weight_floats(kernel, s)));
    conv2d_pack_weights(kernel, s, d.weights.data(), packed.data());
    std::vector<float> scratch(static_cast<size_t>(conv2d_scratch_floats(kernel, s)) + 1);
    std::vector<float> out(d.ref.size(), kSentinel);
    const Epilogue ep{c.bias ? d.bias.data() : nullptr, c.act};
    const int64_t split = s.out_pixels() * 2 / 5;  // two uneven work ranges
    for (Range r : {Range{0, split}, Range{split, s.out_pixels()}}) {
      conv2d(kernel, s, d.input.data(), packed.data(), out.data(), ep, r, scratch.data());
    }
    expect_close("conv2d " + describe(c), out.data(), d.ref.data(), d.atol.data(), static_cast<int64_t>(out.size()),
                 1e-4);
  }
}

KERNEL_TEST(F32Gemm, winograd_conv2d_matches_reference) {
  std::mt19937 rng(7);
  const F32VactKernel& vact = *kernel_config(kernel.isa).f32_vact;
  const std::vector<ConvCase> cases = {
      {shape(1, 10, 9, 32, 40, 3, 1, 1), true, Activation::relu()},           // odd output width: partial tiles
      {shape(2, 7, 8, 48, 32, 3, 1, 0), false, Activation::none()},            // batch 2, no padding
      {with_pads(shape(1, 9, 11, 33, 35, 3, 1, 0), 1, 0, 2, 1), true, Activation::silu()},  // asymmetric pads
      {shape(1, 1, 1, 32, 32, 3, 1, 1), true, Activation::clip(0.0f, 6.0f)},   // 1x1 image: one tile, mostly padding
  };
  for (const ConvCase& c : cases) {
    const Conv2dShape& s = c.s;
    EXPECT_TRUE(winograd_applies(s), "winograd_applies " + describe(c));
    const ConvData d = make_data(c, rng);
    std::vector<float> packed(static_cast<size_t>(winograd_packed_weight_floats(kernel, s)));
    winograd_pack_weights(kernel, s, d.weights.data(), packed.data());
    std::vector<float> scratch(static_cast<size_t>(winograd_scratch_floats(kernel, s)));
    std::vector<float> out(d.ref.size(), kSentinel);
    const Epilogue ep{c.bias ? d.bias.data() : nullptr, c.act};
    const int64_t tiles = winograd_tiles(s), split = tiles / 3;  // two uneven work ranges
    for (Range r : {Range{split, tiles}, Range{0, split}}) {
      winograd_conv2d(kernel, vact, s, d.input.data(), packed.data(), out.data(), ep, r, scratch.data());
    }
    // The transforms add a few roundings of the 4x4 patch's magnitude: a looser bound than the direct sum.
    std::vector<double> atol = d.atol;
    for (double& a : atol) a *= 4.0;
    expect_close("winograd " + describe(c), out.data(), d.ref.data(), atol.data(), static_cast<int64_t>(out.size()),
                 1e-4);
  }
  EXPECT_TRUE(!winograd_applies(shape(1, 8, 8, 32, 32, 3, 2, 1)), "stride 2 is not Winograd's");
  EXPECT_TRUE(!winograd_applies(shape(1, 8, 8, 16, 32, 3, 1, 1)), "16 input channels stay on im2col");
  float buf[8] = {};
  expect_invalid_argument("tile range", [&] {
    const Conv2dShape w = shape(1, 4, 4, 32, 32, 3, 1, 1);
    winograd_conv2d(kernel, vact, w, buf, buf, buf, Epilogue{}, {0, winograd_tiles(w) + 1}, buf);
  }, "tiles");
}

KERNEL_TEST(F32Dwconv, depthwise_conv2d_matches_reference) {
  std::mt19937 rng(4242);
  for (const ConvCase& c : depthwise_cases()) {
    const Conv2dShape& s = c.s;
    const ConvData d = make_data(c, rng);
    std::vector<float> packed(static_cast<size_t>(depthwise_packed_weight_floats(s)));
    depthwise_pack_weights(s, d.weights.data(), packed.data());
    std::vector<float> out(d.ref.size(), kSentinel);
    const Epilogue ep{c.bias ? d.bias.data() : nullptr, c.act};
    const int64_t split = s.out_rows() / 2;
    for (Range r : {Range{split, s.out_rows()}, Range{0, split}}) {
      depthwise_conv2d(kernel, s, d.input.data(), packed.data(), out.data(), ep, r);
    }
    expect_close("depthwise " + describe(c), out.data(), d.ref.data(), d.atol.data(),
                 static_cast<int64_t>(out.size()), 1e-4);
  }
}

KERNEL_TEST(F32Gemm, conv2d_rejects_bad_arguments) {
  float buf[64] = {};
  Conv2dShape bad_groups = shape(1, 4, 4, 6, 4, 3, 1, 1, 4);
  expect_invalid_argument("groups", [&] { validate(bad_groups); }, "divisible by groups");
  Conv2dShape zero_stride = shape(1, 4, 4, 4, 4, 3, 0, 1);
  expect_invalid_argument("stride", [&] { validate(zero_stride); }, "stride_h must be positive");
  Conv2dShape too_small = shape(1, 2, 2, 4, 4, 5, 1, 0);
  expect_invalid_argument("kernel larger than input", [&] { validate(too_small); }, "padded input height");
  const Conv2dShape dense = shape(1, 4, 4, 4, 8, 3, 1, 1);
  expect_invalid_argument("pixel range", [&] {
    conv2d(kernel, dense, buf, buf, buf, Epilogue{}, {0, dense.out_pixels() + 1}, buf);
  }, "pixels");
}

KERNEL_TEST(F32Dwconv, depthwise_conv2d_rejects_bad_arguments) {
  float buf[64] = {};
  const Conv2dShape dense = shape(1, 4, 4, 4, 8, 3, 1, 1);
  expect_invalid_argument("not depthwise", [&] { depthwise_pack_weights(dense, buf, buf); }, "not depthwise");
  const Conv2dShape dw = shape(1, 4, 4, 4, 4, 3, 1, 1, 4);
  expect_invalid_argument("row range", [&] {
    depthwise_conv2d(kernel, dw, buf, buf, buf, Epilogue{}, {2, 1});
  }, "rows");
}

}  // namespace slim::kernels::test
