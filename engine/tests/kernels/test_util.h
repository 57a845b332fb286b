// Minimal test harness for slim_kernels: family tests run once per variant
// (see test_list.h) and compare against double-precision references.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/isa.h"
#include "kernels/kernels.h"
#include "test_list.h"

namespace slim::kernels::test {

#define SLIM_DECLARE_KERNEL_TEST(family, name) void name(const family##Kernel& kernel);
#define SLIM_DECLARE_GENERAL_TEST(name) void name();
SLIM_KERNEL_TESTS(SLIM_DECLARE_KERNEL_TEST)
SLIM_KERNEL_GENERAL_TESTS(SLIM_DECLARE_GENERAL_TEST)
#undef SLIM_DECLARE_KERNEL_TEST
#undef SLIM_DECLARE_GENERAL_TEST

// Defines a test of test_list.h; `kernel` is the variant under test.
#define KERNEL_TEST(family, name) void name([[maybe_unused]] const family##Kernel& kernel)
#define GENERAL_TEST(name) void name()

// Failure bookkeeping: a test reports failures and keeps going so one run shows all of them.
void record_failure(const std::string& message);
int failure_count();

#define EXPECT_TRUE(cond, what)                                                      \
  do {                                                                               \
    if (!(cond)) slim::kernels::test::record_failure(std::string(what) + ": " #cond); \
  } while (0)

// Element-wise comparison: |got - ref| <= rtol * |ref| + atol[i]. Reports the
// first few mismatches with their index; returns whether all matched.
bool expect_close(const std::string& what, const float* got, const double* ref, const double* atol, int64_t n,
                  double rtol);

// Runs fn, which must throw std::invalid_argument whose message contains `needle`.
void expect_invalid_argument(const std::string& what, const std::function<void()>& fn, const std::string& needle);

// Uniform floats in [lo, hi), seeded per test for reproducibility.
std::vector<float> random_floats(std::mt19937& rng, int64_t n, float lo = -1.0f, float hi = 1.0f);

// The exact activation in double precision (the reference for every kernel epilogue).
double reference_activation(const Activation& act, double x);

// Activations cycled through by the GEMM/conv tests so each shape also exercises an epilogue.
const std::vector<Activation>& epilogue_activations();

}  // namespace slim::kernels::test
