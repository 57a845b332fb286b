// q8_maxpool and q8_gavgpool: every variant bit-exact against the scalar
// reference, and the scalar reference against plain loops written here.
#include <vector>

#include "test_q8_util.h"

namespace slim::kernels::test {
namespace {

Pool2dShape q8_pool_shape(int64_t batch, int64_t h, int64_t w, int64_t c, int64_t k, int64_t stride, int64_t pad) {
  Pool2dShape s;
  s.batch = batch;
  s.in_h = h;
  s.in_w = w;
  s.channels = c;
  s.kernel_h = s.kernel_w = k;
  s.stride_h = s.stride_w = stride;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = pad;
  return s;
}

std::vector<uint8_t> reference_maxpool(const Pool2dShape& s, const std::vector<uint8_t>& in) {
  const int64_t Ho = s.out_h(), Wo = s.out_w(), C = s.channels;
  std::vector<uint8_t> out(static_cast<size_t>(s.batch * Ho * Wo * C));
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t ho = 0; ho < Ho; ++ho) {
      for (int64_t wo = 0; wo < Wo; ++wo) {
        for (int64_t c = 0; c < C; ++c) {
          int m = 0;
          for (int64_t i = 0; i < s.kernel_h; ++i) {
            for (int64_t j = 0; j < s.kernel_w; ++j) {
              const int64_t hi = ho * s.stride_h - s.pad_top + i * s.dilation_h;
              const int64_t wi = wo * s.stride_w - s.pad_left + j * s.dilation_w;
              if (hi < 0 || hi >= s.in_h || wi < 0 || wi >= s.in_w) continue;
              const int x = in[static_cast<size_t>(((n * s.in_h + hi) * s.in_w + wi) * C + c)];
              if (x > m) m = x;
            }
          }
          out[static_cast<size_t>(((n * Ho + ho) * Wo + wo) * C + c)] = static_cast<uint8_t>(m);
        }
      }
    }
  }
  return out;
}

std::vector<uint8_t> run_maxpool(const Q8MaxPoolKernel& k, const Pool2dShape& s, const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out(static_cast<size_t>(s.out_rows() * s.out_w() * s.channels), 0xA5);
  const int64_t R = s.out_rows();
  for (Range r : {Range{0, R / 2}, Range{R / 2, R}}) q8_max_pool2d(k, s, in.data(), out.data(), r);
  return out;
}

}  // namespace

KERNEL_TEST(Q8MaxPool, q8_max_pool2d_matches_reference) {
  std::mt19937 rng(5);
  std::vector<Pool2dShape> shapes = {
      q8_pool_shape(1, 112, 112, 24, 3, 2, 1),  // ShuffleNetV2 stem maxpool
      q8_pool_shape(1, 56, 56, 64, 3, 2, 1),    // ResNet
      q8_pool_shape(2, 9, 11, 17, 2, 2, 0),
      q8_pool_shape(1, 7, 7, 200, 3, 1, 1),
      q8_pool_shape(1, 5, 5, 130, 5, 1, 2),
      q8_pool_shape(1, 3, 3, 9, 2, 1, 3),  // pads beyond the kernel: empty windows give 0
  };
  Pool2dShape ceil = q8_pool_shape(1, 10, 13, 33, 3, 2, 0);
  ceil.ceil_mode = true;
  shapes.push_back(ceil);
  Pool2dShape dil = q8_pool_shape(1, 12, 12, 70, 3, 1, 2);
  dil.dilation_h = dil.dilation_w = 2;
  shapes.push_back(dil);
  for (const Pool2dShape& s : shapes) {
    const std::vector<uint8_t> in = random_u8(rng, s.batch * s.in_h * s.in_w * s.channels);
    const std::string what = std::to_string(s.in_h) + "x" + std::to_string(s.in_w) + " c" + std::to_string(s.channels) +
                             " k" + std::to_string(s.kernel_h) + " s" + std::to_string(s.stride_h);
    const std::vector<uint8_t> got = run_maxpool(kernel, s, in);
    expect_equal(std::string(kernel.name) + " vs scalar " + what, got, run_maxpool(q8_maxpool_1c_scalar, s, in));
    if (&kernel == &q8_maxpool_1c_scalar) expect_equal("scalar vs loop " + what, got, reference_maxpool(s, in));
  }
  const Pool2dShape s = q8_pool_shape(1, 4, 4, 3, 2, 2, 0);
  std::vector<uint8_t> buf(48);
  expect_invalid_argument("rows", [&] { q8_max_pool2d(kernel, s, buf.data(), buf.data(), {0, 3}); }, "rows");
}

KERNEL_TEST(Q8GlobalAvgPool, q8_global_avg_pool_matches_reference) {
  std::mt19937 rng(6);
  struct Case {
    int64_t batch, pixels, channels;
  };
  for (const Case c : {Case{1, 49, 1280}, Case{1, 49, 960}, Case{2, 196, 17}, Case{1, 3136, 100}, Case{3, 1, 65},
                       Case{1, 7, 1}, Case{1, 49, 1024}}) {
    const std::vector<uint8_t> in = random_u8(rng, c.batch * c.pixels * c.channels);
    QGlobalAvgPoolParams p;
    p.x_zp = random_int(rng, 0, 255);
    p.y_zp = random_int(rng, 0, 255);
    p.multiplier = random_float(rng, 0.2f, 3.0f) / static_cast<float>(c.pixels);
    const auto run = [&](const Q8GlobalAvgPoolKernel& k) {
      std::vector<uint8_t> out(static_cast<size_t>(c.batch * c.channels), 0xA5);
      const int64_t split = c.channels / 3;
      for (Range r : {Range{0, split}, Range{split, c.channels}}) {
        q8_global_avg_pool(k, c.batch, c.pixels, c.channels, in.data(), p, out.data(), r);
      }
      return out;
    };
    const std::string what = std::to_string(c.batch) + "x" + std::to_string(c.pixels) + "px c" + std::to_string(c.channels);
    const std::vector<uint8_t> got = run(kernel);
    expect_equal(std::string(kernel.name) + " vs scalar " + what, got, run(q8_gavgpool_1c_scalar));
    if (&kernel == &q8_gavgpool_1c_scalar) {
      std::vector<uint8_t> want(got.size());
      for (int64_t n = 0; n < c.batch; ++n) {
        for (int64_t ch = 0; ch < c.channels; ++ch) {
          int64_t sum = 0;
          for (int64_t i = 0; i < c.pixels; ++i) sum += in[static_cast<size_t>((n * c.pixels + i) * c.channels + ch)];
          want[static_cast<size_t>(n * c.channels + ch)] =
              static_cast<uint8_t>(ref_requant(sum - c.pixels * p.x_zp, p.multiplier, p.y_zp, 0, 255));
        }
      }
      expect_equal("scalar vs loop " + what, got, want);
    }
  }
  // Ties: 2 pixels, multiplier 0.5: (a + b - 2 zp) / 2 with an odd sum.
  const std::vector<uint8_t> in = {1, 2, 4, 0, 0, 1};
  QGlobalAvgPoolParams p;
  p.multiplier = 0.5f;
  p.y_zp = 10;
  std::vector<uint8_t> out(3);
  q8_global_avg_pool(kernel, 1, 2, 3, in.data(), p, out.data(), {0, 3});
  EXPECT_TRUE(out[0] == 10 && out[1] == 11 && out[2] == 12, "0.5 -> 0, 1 -> 1, 2.5 -> 2");
  expect_invalid_argument("zero point", [&] {
    QGlobalAvgPoolParams bad;
    bad.x_zp = -1;
    q8_global_avg_pool(kernel, 1, 2, 3, in.data(), bad, out.data(), {0, 3});
  }, "x_zp");
}

}  // namespace slim::kernels::test
