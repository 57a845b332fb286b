// NHWC max/average/global-average pooling against direct double-precision loops.
#include <cmath>
#include <limits>
#include <vector>

#include "test_util.h"

namespace slim::kernels::test {
namespace {

constexpr float kSentinel = -999.0f;

Pool2dShape pool(int64_t h, int64_t w, int64_t c, int64_t k, int64_t stride, int64_t pad, bool ceil_mode = false,
                 bool include_pad = false) {
  Pool2dShape s;
  s.batch = 2;
  s.in_h = h;
  s.in_w = w;
  s.channels = c;
  s.kernel_h = s.kernel_w = k;
  s.stride_h = s.stride_w = stride;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = pad;
  s.ceil_mode = ceil_mode;
  s.count_include_pad = include_pad;
  return s;
}

std::vector<Pool2dShape> pool_cases() {
  std::vector<Pool2dShape> cases = {
      pool(8, 8, 16, 2, 2, 0),         pool(7, 9, 17, 3, 2, 1),        pool(7, 7, 33, 3, 2, 1, true),
      pool(6, 5, 5, 3, 1, 1, false, true), pool(9, 9, 40, 3, 2, 0, true, true), pool(1, 1, 3, 1, 1, 0),
      pool(5, 6, 20, 5, 3, 2, true, false),
  };
  Pool2dShape asym = pool(6, 7, 19, 3, 2, 0);
  asym.pad_bottom = 1;
  asym.pad_left = 2;
  asym.count_include_pad = true;
  cases.push_back(asym);
  Pool2dShape dilated = pool(9, 8, 12, 2, 1, 1);
  dilated.dilation_h = 2;
  dilated.dilation_w = 3;
  cases.push_back(dilated);
  return cases;
}

std::string describe(const Pool2dShape& s) {
  return std::to_string(s.in_h) + "x" + std::to_string(s.in_w) + "x" + std::to_string(s.channels) + " k" +
         std::to_string(s.kernel_h) + " s" + std::to_string(s.stride_h) + " p" + std::to_string(s.pad_top) +
         std::to_string(s.pad_left) + std::to_string(s.pad_bottom) + std::to_string(s.pad_right) +
         (s.ceil_mode ? " ceil" : "") + (s.count_include_pad ? " include_pad" : "");
}

// Reference following the ONNX definition window by window.
std::vector<double> reference(const Pool2dShape& s, const std::vector<float>& in, bool average) {
  const int64_t Ho = s.out_h(), Wo = s.out_w(), C = s.channels;
  std::vector<double> out(static_cast<size_t>(s.batch * Ho * Wo * C + 1), kSentinel);
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t ho = 0; ho < Ho; ++ho) {
      for (int64_t wo = 0; wo < Wo; ++wo) {
        for (int64_t c = 0; c < C; ++c) {
          double acc = average ? 0.0 : -INFINITY;
          int64_t inside = 0, padded = 0;
          for (int64_t i = 0; i < s.kernel_h; ++i) {
            for (int64_t j = 0; j < s.kernel_w; ++j) {
              const int64_t hi = ho * s.stride_h - s.pad_top + i * s.dilation_h;
              const int64_t wi = wo * s.stride_w - s.pad_left + j * s.dilation_w;
              if (hi >= -s.pad_top && hi < s.in_h + s.pad_bottom && wi >= -s.pad_left && wi < s.in_w + s.pad_right) {
                ++padded;
              }
              if (hi < 0 || hi >= s.in_h || wi < 0 || wi >= s.in_w) continue;
              const double x = in[static_cast<size_t>(((n * s.in_h + hi) * s.in_w + wi) * C + c)];
              acc = average ? acc + x : std::fmax(acc, x);
              ++inside;
            }
          }
          if (average) acc /= static_cast<double>(s.count_include_pad ? padded : inside);
          out[static_cast<size_t>(((n * Ho + ho) * Wo + wo) * C + c)] = acc;
        }
      }
    }
  }
  return out;
}

}  // namespace

KERNELS_TEST(pool2d_matches_reference) {
  std::mt19937 rng(5);
  for (const Pool2dShape& s : pool_cases()) {
    const std::vector<float> in = random_floats(rng, s.batch * s.in_h * s.in_w * s.channels);
    for (bool average : {false, true}) {
      const std::vector<double> ref = reference(s, in, average);
      const std::vector<double> atol(ref.size(), 1e-6);
      std::vector<float> out(ref.size(), kSentinel);
      const int64_t split = s.out_rows() / 3;
      for (Range r : {Range{0, split}, Range{split, s.out_rows()}}) {
        if (average) {
          avg_pool2d(isa, s, in.data(), out.data(), r);
        } else {
          max_pool2d(isa, s, in.data(), out.data(), r);
        }
      }
      expect_close((average ? "avg_pool2d " : "max_pool2d ") + describe(s), out.data(), ref.data(), atol.data(),
                   static_cast<int64_t>(out.size()), 1e-5);
    }
  }
}

KERNELS_TEST(pool2d_ceil_mode_output_size) {
  // ONNX/PyTorch rule: 7 with k3 s2 p1 ceil -> 4; 6 with k2 s2 ceil -> 3 but the
  // window starting in the right padding is dropped for 5 with k2 s2 p1 ceil -> 3.
  EXPECT_TRUE(pool(7, 7, 1, 3, 2, 1, true).out_h() == 4, "7 k3 s2 p1 ceil");
  EXPECT_TRUE(pool(7, 7, 1, 3, 2, 1, false).out_h() == 4, "7 k3 s2 p1 floor");
  EXPECT_TRUE(pool(8, 8, 1, 3, 2, 0, true).out_h() == 4, "8 k3 s2 ceil");
  EXPECT_TRUE(pool(8, 8, 1, 3, 2, 0, false).out_h() == 3, "8 k3 s2 floor");
  EXPECT_TRUE(pool(5, 5, 1, 2, 2, 1, true).out_h() == 3, "5 k2 s2 p1 ceil");
}

KERNELS_TEST(global_avg_pool_matches_reference) {
  std::mt19937 rng(6);
  for (int64_t channels : {1, 7, 16, 67, 1280}) {
    const int64_t batch = 2, pixels = channels > 100 ? 49 : 13;
    const std::vector<float> in = random_floats(rng, batch * pixels * channels);
    std::vector<double> ref(static_cast<size_t>(batch * channels + 1), kSentinel);
    for (int64_t n = 0; n < batch; ++n) {
      for (int64_t c = 0; c < channels; ++c) {
        double sum = 0;
        for (int64_t p = 0; p < pixels; ++p) sum += in[static_cast<size_t>((n * pixels + p) * channels + c)];
        ref[static_cast<size_t>(n * channels + c)] = sum / static_cast<double>(pixels);
      }
    }
    std::vector<float> out(ref.size(), kSentinel);
    const int64_t split = channels / 2;
    for (Range r : {Range{split, channels}, Range{0, split}}) {
      global_avg_pool(isa, batch, pixels, channels, in.data(), out.data(), r);
    }
    const std::vector<double> atol(ref.size(), 1e-6);
    expect_close("global_avg_pool c" + std::to_string(channels), out.data(), ref.data(), atol.data(),
                 static_cast<int64_t>(out.size()), 1e-5);
  }
}

KERNELS_TEST(max_pool2d_propagates_nan) {
  // NaN first, last and alone in a window: each window containing it must output NaN.
  Pool2dShape s = pool(2, 4, 19, 2, 2, 0);  // two 2x2 windows side by side
  s.batch = 1;
  std::vector<float> in(static_cast<size_t>(2 * 4 * 19), 1.0f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  in[0] = nan;                                    // (0, 0): first tap of window 0, channel 0
  in[static_cast<size_t>((4 + 3) * 19 + 18)] = nan;  // (1, 3): last tap of window 1, tail channel 18
  std::vector<float> out(static_cast<size_t>(2 * 19));
  max_pool2d(isa, s, in.data(), out.data(), {0, s.out_rows()});
  EXPECT_TRUE(std::isnan(out[0]) && out[1] == 1.0f, "NaN in the first tap");
  EXPECT_TRUE(std::isnan(out[19 + 18]) && out[19 + 17] == 1.0f, "NaN in the last tap");
}

KERNELS_TEST(pool2d_rejects_bad_arguments) {
  float buf[16] = {};
  Pool2dShape big_pad = pool(4, 4, 1, 2, 1, 2);
  expect_invalid_argument("pad >= kernel", [&] { validate(big_pad); }, "pad_top 2 must be smaller");
  Pool2dShape no_channels = pool(4, 4, 0, 2, 1, 0);
  expect_invalid_argument("channels", [&] { validate(no_channels); }, "channels must be positive");
  const Pool2dShape ok = pool(4, 4, 1, 2, 2, 0);
  expect_invalid_argument("rows", [&] { max_pool2d(isa, ok, buf, buf, {0, ok.out_rows() + 1}); }, "rows");
  expect_invalid_argument("channel range", [&] { global_avg_pool(isa, 1, 4, 4, buf, buf, {0, 5}); },
                          "channel_range");
}

}  // namespace slim::kernels::test
