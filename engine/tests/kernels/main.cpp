// Runs every kernel test of test_list.h on every variant of its family in
// kernel_list.h that this CPU runs.
//
//   slim_kernels_test [--isa scalar|avx2|avx512|avx512vnni] [filter]
//
// --isa runs only the variants of that ISA (exit code 77, "skipped", when the
// CPU lacks it); `filter` is a substring of "<variant>/<test>".
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "test_util.h"

namespace slim::kernels::test {

namespace {
int g_failures = 0;
int g_reported = 0;
}  // namespace

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
    // Negated so NaN fails; equality first so that matching infinities pass.
    if (!(static_cast<double>(got[i]) == ref[i] || err <= rtol * std::fabs(ref[i]) + atol[i])) {
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

using slim::Isa;
using namespace slim::kernels;

struct Variant {
  Family family;
  const char* name;
  const void* kernel;
  Isa isa;
};

struct FamilyTest {
  Family family;
  const char* name;
  void (*run)(const void* kernel);
};

#define SLIM_VARIANT(family, name) Variant{Family::k##family, #name, &name, name.isa},
const Variant kVariants[] = {SLIM_KERNELS(SLIM_VARIANT)};
#undef SLIM_VARIANT

#define SLIM_FAMILY_TEST(family, name) \
  FamilyTest{Family::k##family, #name, [](const void* k) { test::name(*static_cast<const family##Kernel*>(k)); }},
const FamilyTest kFamilyTests[] = {SLIM_KERNEL_TESTS(SLIM_FAMILY_TEST)};
#undef SLIM_FAMILY_TEST

struct GeneralTest {
  const char* name;
  void (*run)();
};

#define SLIM_GENERAL_TEST(name) GeneralTest{#name, &test::name},
const GeneralTest kGeneralTests[] = {SLIM_KERNEL_GENERAL_TESTS(SLIM_GENERAL_TEST)};
#undef SLIM_GENERAL_TEST

bool matches(const char* filter, const std::string& id) { return filter == nullptr || id.find(filter) != std::string::npos; }

template <class Fn>
void run_one(const std::string& id, Fn&& fn) {
  const int before = test::failure_count();
  const auto t0 = std::chrono::steady_clock::now();
  try {
    fn();
  } catch (const std::exception& e) {
    test::record_failure(id + ": unexpected exception: " + e.what());
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ %s ] %s (%.0f ms)\n", test::failure_count() == before ? " OK " : "FAIL", id.c_str(), ms);
}

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr, "error: %s\nusage: slim_kernels_test [--isa scalar|avx2|avx512|avx512vnni] [filter]\n", problem.c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  const char* filter = nullptr;
  bool one_isa = false;
  Isa only = Isa::kScalar;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--isa") {
      if (i + 1 >= argc) usage("--isa needs a value");
      const std::string name = argv[++i];
      bool known = false;
      for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni}) {
        if (name == slim::isa_name(isa)) {
          only = isa;
          known = true;
        }
      }
      if (!known) usage("unknown ISA '" + name + "'");
      one_isa = true;
    } else if (filter == nullptr && arg.rfind("--", 0) != 0) {
      filter = argv[i];
    } else {
      usage("unexpected argument " + arg);
    }
  }
  const Isa cpu = cpu_isa();
  if (one_isa && static_cast<int>(only) > static_cast<int>(cpu)) {
    std::printf("[ SKIP ] isa %s: this CPU runs at most %s\n", slim::isa_name(only), slim::isa_name(cpu));
    return 77;
  }
  const auto start = std::chrono::steady_clock::now();
  int variants_run = 0;
  for (const Variant& v : kVariants) {
    if (one_isa ? v.isa != only : static_cast<int>(v.isa) > static_cast<int>(cpu)) continue;
    bool any = false;
    for (const FamilyTest& t : kFamilyTests) {
      if (t.family != v.family) continue;
      const std::string id = std::string(v.name) + "/" + t.name;
      if (!matches(filter, id)) continue;
      any = true;
      run_one(id, [&] { t.run(v.kernel); });
    }
    if (!any && filter == nullptr) test::record_failure(std::string(v.name) + ": no test in test_list.h runs it");
    variants_run += any ? 1 : 0;
  }
  for (const GeneralTest& t : kGeneralTests) {
    if (matches(filter, t.name)) run_one(t.name, t.run);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d variant(s) tested, %d failure(s), %.1f s\n", variants_run, test::failure_count(), s);
  return test::failure_count() == 0 ? 0 : 1;
}
