// Helpers of the int8 kernel tests: exact comparisons, random quantized data,
// the requantization written independently of the kernels, and buffers that
// end at an unreadable page so that any read past the end faults.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"

namespace slim::kernels::test {

// y = clamp(nearbyint(float(v) * scale) + zp, qmin, qmax), as QUANTIZED.md
// writes it: the rounding in double so that no product can overflow here.
inline int32_t ref_requant(int64_t v, float scale, int32_t zp, int32_t qmin, int32_t qmax) {
  const float f = static_cast<float>(static_cast<int32_t>(v)) * scale;
  double r = std::nearbyint(static_cast<double>(f)) + zp;
  if (r < qmin) r = qmin;
  if (r > qmax) r = qmax;
  return static_cast<int32_t>(r);
}

template <class T>
bool expect_equal(const std::string& what, const T* got, const T* want, int64_t n) {
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool same;
    if constexpr (std::is_floating_point_v<T>) {
      same = std::memcmp(&got[i], &want[i], sizeof(T)) == 0 || got[i] == want[i];
    } else {
      same = got[i] == want[i];
    }
    if (!same) {
      if (bad < 3) {
        record_failure(what + ": [" + std::to_string(i) + "] got " + std::to_string(+got[i]) + ", want " +
                       std::to_string(+want[i]));
      }
      ++bad;
    }
  }
  if (bad > 3) record_failure(what + ": " + std::to_string(bad) + " mismatches in total");
  return bad == 0;
}

template <class T>
bool expect_equal(const std::string& what, const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size()) {
    record_failure(what + ": size " + std::to_string(got.size()) + " != " + std::to_string(want.size()));
    return false;
  }
  return expect_equal(what, got.data(), want.data(), static_cast<int64_t>(got.size()));
}

inline std::vector<uint8_t> random_u8(std::mt19937& rng, int64_t n, int lo = 0, int hi = 255) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<uint8_t> v(static_cast<size_t>(n > 0 ? n : 1));
  for (auto& x : v) x = static_cast<uint8_t>(d(rng));
  return v;
}

inline std::vector<int8_t> random_s8(std::mt19937& rng, int64_t n, int lo = -128, int hi = 127) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int8_t> v(static_cast<size_t>(n > 0 ? n : 1));
  for (auto& x : v) x = static_cast<int8_t>(d(rng));
  return v;
}

inline int random_int(std::mt19937& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

inline float random_float(std::mt19937& rng, float lo, float hi) {
  return std::uniform_real_distribution<float>(lo, hi)(rng);
}

// n bytes whose last one is followed by a PROT_NONE page: a kernel that reads
// past the end (a whole-vector load of the last K % 4 bytes) crashes the test.
class GuardedBytes {
 public:
  explicit GuardedBytes(size_t n) : n_(n) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    pages_ = (n + page - 1) / page + 1;
    void* p = mmap(nullptr, pages_ * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    base_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
    if (base_ != nullptr) mprotect(base_ + (pages_ - 1) * page, page, PROT_NONE);
    data_ = base_ == nullptr ? nullptr : base_ + (pages_ - 1) * page - n;
    page_ = page;
  }
  ~GuardedBytes() {
    if (base_ != nullptr) munmap(base_, pages_ * page_);
  }
  GuardedBytes(const GuardedBytes&) = delete;
  GuardedBytes& operator=(const GuardedBytes&) = delete;
  uint8_t* data() { return data_; }
  size_t size() const { return n_; }

 private:
  size_t n_ = 0, pages_ = 0, page_ = 0;
  uint8_t* base_ = nullptr;
  uint8_t* data_ = nullptr;
};

}  // namespace slim::kernels::test
