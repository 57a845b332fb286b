// Runs every registered kernel test on every ISA variant this CPU can execute.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "test_util.h"

namespace slim::kernels::test {

namespace {
int g_failures = 0;
int g_reported = 0;
}  // namespace

std::vector<TestCase>& registry() {
  static std::vector<TestCase> cases;
  return cases;
}

void record_failure(const std::string& message) {
  ++g_failures;
  // Cap the output: one broken kernel can fail thousands of elements.
  if (++g_reported <= 40) std::printf("    FAIL %s\n", message.c_str());
}

int failure_count() { return g_failures; }

bool expect_close(const std::string& what, const float* got, const double* ref, const double* atol, int64_t n,
                  double rtol) {
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - ref[i]);
    if (!(err <= rtol * std::fabs(ref[i]) + atol[i])) {  // negated so NaN fails
      if (bad < 3) {
        char buf[256];
        std::snprintf(buf, sizeof buf, "%s: [%lld] got %.9g, want %.9g (err %.3g, tol %.3g)", what.c_str(),
                      static_cast<long long>(i), static_cast<double>(got[i]), ref[i], err,
                      rtol * std::fabs(ref[i]) + atol[i]);
        record_failure(buf);
      }
      ++bad;
    }
  }
  if (bad > 3) record_failure(what + ": " + std::to_string(bad) + " mismatches in total");
  return bad == 0;
}

void expect_invalid_argument(const std::string& what, const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    if (std::string(e.what()).find(needle) == std::string::npos) {
      record_failure(what + ": error message '" + e.what() + "' does not mention '" + needle + "'");
    }
    return;
  }
  record_failure(what + ": no std::invalid_argument thrown");
}

std::vector<float> random_floats(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  // Never empty, so data() is a valid pointer even for zero-sized operands.
  std::vector<float> v(static_cast<size_t>(n > 0 ? n : 1));
  for (float& x : v) x = dist(rng);
  return v;
}

double reference_activation(const Activation& act, double x) {
  switch (act.kind) {
    case ActKind::kNone: return x;
    case ActKind::kRelu: return x > 0 ? x : 0.0;
    case ActKind::kClip: return std::fmin(std::fmax(x, act.alpha), act.beta);
    case ActKind::kLeakyRelu: return x >= 0 ? x : act.alpha * x;
    case ActKind::kHardSigmoid: return std::fmax(0.0, std::fmin(1.0, act.alpha * x + act.beta));
    case ActKind::kHardSwish: return x * std::fmax(0.0, std::fmin(1.0, x / 6.0 + 0.5));
    case ActKind::kSigmoid: return 1.0 / (1.0 + std::exp(-x));
    case ActKind::kSilu: return x / (1.0 + std::exp(-x));
    case ActKind::kGelu: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case ActKind::kGeluTanh:
      return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    case ActKind::kTanh: return std::tanh(x);
    case ActKind::kExp: return std::exp(x);
    case ActKind::kErf: return std::erf(x);
  }
  return x;
}

const std::vector<Activation>& epilogue_activations() {
  static const std::vector<Activation> acts = {
      Activation::none(),       Activation::relu(),       Activation::clip(-0.5f, 0.75f),
      Activation::leaky_relu(0.1f), Activation::hard_sigmoid(), Activation::hard_swish(),
      Activation::sigmoid(),    Activation::silu(),       Activation::gelu(),
      Activation::gelu_tanh(),  Activation::tanh(),
  };
  return acts;
}

}  // namespace slim::kernels::test

namespace {

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
bool cpu_has(slim::Isa isa) {
  // Test-only detection (the runtime owns the real one); the builtins also
  // check that the OS saves the wide registers.
  switch (isa) {
    case slim::Isa::kScalar: return true;
    case slim::Isa::kAvx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case slim::Isa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("fma");
  }
  return false;
}
#else
bool cpu_has(slim::Isa isa) { return isa == slim::Isa::kScalar; }
#endif

}  // namespace

int main(int argc, char** argv) {
  using namespace slim::kernels::test;
  const char* only = argc > 1 ? argv[1] : nullptr;  // optional substring filter on test names
  const auto start = std::chrono::steady_clock::now();
  for (slim::Isa isa : {slim::Isa::kScalar, slim::Isa::kAvx2, slim::Isa::kAvx512}) {
    if (!cpu_has(isa)) {
      std::printf("[ SKIP ] isa %s: not supported by this CPU\n", slim::isa_name(isa));
      continue;
    }
    for (const TestCase& tc : registry()) {
      if (only != nullptr && std::strstr(tc.name, only) == nullptr) continue;
      const int before = failure_count();
      const auto t0 = std::chrono::steady_clock::now();
      tc.fn(isa);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::printf("[ %s ] %s/%s (%.0f ms)\n", failure_count() == before ? " OK " : "FAIL", slim::isa_name(isa),
                  tc.name, ms);
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d failure(s), %.1f s\n", failure_count(), s);
  return failure_count() == 0 ? 0 : 1;
}
