// Minimal test harness for slim_kernels: every test runs once per ISA the
// running CPU supports and compares against double-precision references.
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

namespace slim::kernels::test {

using TestFn = void (*)(Isa isa);

struct TestCase {
  const char* name;
  TestFn fn;
};

std::vector<TestCase>& registry();

struct Register {
  Register(const char* name, TestFn fn) { registry().push_back({name, fn}); }
};

#define KERNELS_TEST(name)                                              \
  static void name(slim::Isa isa);                                      \
  static const slim::kernels::test::Register name##_registered(#name, name); \
  static void name([[maybe_unused]] slim::Isa isa)

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
