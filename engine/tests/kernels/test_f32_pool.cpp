// NHWC max/average/global pooling against direct double-precision loops.
#include <cmath>
#include <functional>
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
  // Pads as large as the kernel: the corner windows see no pixel at all.
  cases.push_back(pool(3, 4, 9, 2, 1, 2));
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
          const int64_t count = s.count_include_pad ? padded : inside;
          if (average) acc = count > 0 ? acc / static_cast<double>(count) : 0.0;
          out[static_cast<size_t>(((n * Ho + ho) * Wo + wo) * C + c)] = acc;
        }
      }
    }
  }
  return out;
}

void check_pool2d(bool average, const std::function<void(const Pool2dShape&, const float*, float*, Range)>& run) {
  std::mt19937 rng(average ? 5 : 15);
  for (const Pool2dShape& s : pool_cases()) {
    const std::vector<float> in = random_floats(rng, s.batch * s.in_h * s.in_w * s.channels);
    const std::vector<double> ref = reference(s, in, average);
    const std::vector<double> atol(ref.size(), 1e-6);
    std::vector<float> out(ref.size(), kSentinel);
    const int64_t split = s.out_rows() / 3;
    for (Range r : {Range{0, split}, Range{split, s.out_rows()}}) run(s, in.data(), out.data(), r);
    expect_close((average ? "avg_pool2d " : "max_pool2d ") + describe(s), out.data(), ref.data(), atol.data(),
                 static_cast<int64_t>(out.size()), 1e-5);
  }
}

// Max or mean over the pixels of every (image, channel), for the global pools.
std::vector<double> global_reference(const std::vector<float>& in, int64_t batch, int64_t pixels, int64_t channels,
                                     bool average) {
  std::vector<double> ref(static_cast<size_t>(batch * channels + 1), kSentinel);
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t c = 0; c < channels; ++c) {
      double acc = average ? 0.0 : -INFINITY;
      for (int64_t p = 0; p < pixels; ++p) {
        const double x = in[static_cast<size_t>((n * pixels + p) * channels + c)];
        acc = average ? acc + x : std::fmax(acc, x);
      }
      ref[static_cast<size_t>(n * channels + c)] = average ? acc / static_cast<double>(pixels) : acc;
    }
  }
  return ref;
}

void check_global_pool(bool average, const std::function<void(int64_t, int64_t, int64_t, const float*, float*,
                                                               Range)>& run) {
  std::mt19937 rng(average ? 6 : 16);
  for (int64_t channels : {1, 7, 16, 67, 1280}) {
    const int64_t batch = 2, pixels = channels > 100 ? 49 : 13;
    const std::vector<float> in = random_floats(rng, batch * pixels * channels);
    const std::vector<double> ref = global_reference(in, batch, pixels, channels, average);
    std::vector<float> out(ref.size(), kSentinel);
    const int64_t split = channels / 2;
    for (Range r : {Range{split, channels}, Range{0, split}}) run(batch, pixels, channels, in.data(), out.data(), r);
    const std::vector<double> atol(ref.size(), 1e-6);
    expect_close((average ? "global_avg_pool c" : "global_max_pool c") + std::to_string(channels), out.data(),
                 ref.data(), atol.data(), static_cast<int64_t>(out.size()), 1e-5);
  }
}

}  // namespace

KERNEL_TEST(F32MaxPool, max_pool2d_matches_reference) {
  check_pool2d(false, [&](const Pool2dShape& s, const float* in, float* out, Range r) {
    max_pool2d(kernel, s, in, out, r);
  });
}

KERNEL_TEST(F32AvgPool, avg_pool2d_matches_reference) {
  check_pool2d(true, [&](const Pool2dShape& s, const float* in, float* out, Range r) {
    avg_pool2d(kernel, s, in, out, r);
  });
}

GENERAL_TEST(pool2d_ceil_mode_output_size) {
  // ONNX/PyTorch rule: 7 with k3 s2 p1 ceil -> 4; 6 with k2 s2 ceil -> 3 but the
  // window starting in the right padding is dropped for 5 with k2 s2 p1 ceil -> 3.
  EXPECT_TRUE(pool(7, 7, 1, 3, 2, 1, true).out_h() == 4, "7 k3 s2 p1 ceil");
  EXPECT_TRUE(pool(7, 7, 1, 3, 2, 1, false).out_h() == 4, "7 k3 s2 p1 floor");
  EXPECT_TRUE(pool(8, 8, 1, 3, 2, 0, true).out_h() == 4, "8 k3 s2 ceil");
  EXPECT_TRUE(pool(8, 8, 1, 3, 2, 0, false).out_h() == 3, "8 k3 s2 floor");
  EXPECT_TRUE(pool(5, 5, 1, 2, 2, 1, true).out_h() == 3, "5 k2 s2 p1 ceil");
}

GENERAL_TEST(pool2d_validation_names_the_field) {
  Pool2dShape no_channels = pool(4, 4, 0, 2, 1, 0);
  expect_invalid_argument("channels", [&] { validate(no_channels); }, "channels must be positive");
  Pool2dShape negative_pad = pool(4, 4, 1, 2, 1, 0);
  negative_pad.pad_left = -1;
  expect_invalid_argument("pad", [&] { validate(negative_pad); }, "pad_left must be >= 0");
  Pool2dShape too_small = pool(2, 2, 1, 5, 1, 0);
  expect_invalid_argument("kernel larger than input", [&] { validate(too_small); }, "padded input height");
}

KERNEL_TEST(F32GlobalAvgPool, global_avg_pool_matches_reference) {
  check_global_pool(true, [&](int64_t b, int64_t p, int64_t c, const float* in, float* out, Range r) {
    global_avg_pool(kernel, b, p, c, in, out, r);
  });
}

KERNEL_TEST(F32GlobalMaxPool, global_max_pool_matches_reference) {
  check_global_pool(false, [&](int64_t b, int64_t p, int64_t c, const float* in, float* out, Range r) {
    global_max_pool(kernel, b, p, c, in, out, r);
  });
}

KERNEL_TEST(F32GlobalMaxPool, global_max_pool_propagates_nan) {
  // 70 channels: NaN in a full block of vectors (channel 3) and in the tail (channel 69).
  const int64_t pixels = 5, channels = 70;
  std::vector<float> in(static_cast<size_t>(pixels * channels), 1.0f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  in[static_cast<size_t>(0 * channels + 3)] = nan;
  in[static_cast<size_t>(4 * channels + 69)] = nan;
  std::vector<float> out(static_cast<size_t>(channels));
  global_max_pool(kernel, 1, pixels, channels, in.data(), out.data(), {0, channels});
  EXPECT_TRUE(std::isnan(out[3]) && out[2] == 1.0f, "NaN in the first pixel");
  EXPECT_TRUE(std::isnan(out[69]) && out[68] == 1.0f, "NaN in the last pixel");
}

KERNEL_TEST(F32MaxPool, max_pool2d_propagates_nan) {
  // NaN first, last and alone in a window: each window containing it must output NaN.
  Pool2dShape s = pool(2, 4, 19, 2, 2, 0);  // two 2x2 windows side by side
  s.batch = 1;
  std::vector<float> in(static_cast<size_t>(2 * 4 * 19), 1.0f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  in[0] = nan;                                    // (0, 0): first tap of window 0, channel 0
  in[static_cast<size_t>((4 + 3) * 19 + 18)] = nan;  // (1, 3): last tap of window 1, tail channel 18
  std::vector<float> out(static_cast<size_t>(2 * 19));
  max_pool2d(kernel, s, in.data(), out.data(), {0, s.out_rows()});
  EXPECT_TRUE(std::isnan(out[0]) && out[1] == 1.0f, "NaN in the first tap");
  EXPECT_TRUE(std::isnan(out[19 + 18]) && out[19 + 17] == 1.0f, "NaN in the last tap");
}

KERNEL_TEST(F32MaxPool, max_pool2d_rejects_bad_arguments) {
  float buf[16] = {};
  const Pool2dShape ok = pool(4, 4, 1, 2, 2, 0);
  expect_invalid_argument("rows", [&] { max_pool2d(kernel, ok, buf, buf, {0, ok.out_rows() + 1}); }, "rows");
  expect_invalid_argument("null input", [&] { max_pool2d(kernel, ok, nullptr, buf, {0, 1}); }, "input is null");
}

KERNEL_TEST(F32GlobalAvgPool, global_avg_pool_rejects_bad_arguments) {
  float buf[16] = {};
  expect_invalid_argument("channel range", [&] { global_avg_pool(kernel, 1, 4, 4, buf, buf, {0, 5}); },
                          "channel_range");
  expect_invalid_argument("pixels", [&] { global_avg_pool(kernel, 1, 0, 4, buf, buf, {0, 4}); },
                          "pixels must be positive");
}

}  // namespace slim::kernels::test
