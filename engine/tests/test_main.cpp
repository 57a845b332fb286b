#include "test_main.h"

#include <cstdio>
#include <cstring>
#include <exception>

namespace slimtest {

namespace {
int g_failures = 0;
}

void record_failure(const char* file, int line, const std::string& what) {
  ++g_failures;
  std::fprintf(stderr, "  FAILED %s:%d: %s\n", file, line, what.c_str());
}

}  // namespace slimtest

namespace {

struct Case {
  const char* name;
  void (*fn)();
};

#define SLIMTEST_CASE(name) Case{#name, &slimtest::name},
const Case kCases[] = {SLIM_ENGINE_TESTS(SLIMTEST_CASE)};
#undef SLIMTEST_CASE

}  // namespace

int main(int argc, char** argv) {
  int failed_cases = 0;
  for (const Case& c : kCases) {
    if (argc > 1 && std::strstr(c.name, argv[1]) == nullptr) continue;
    const int before = slimtest::g_failures;
    try {
      c.fn();
    } catch (const std::exception& e) {
      slimtest::record_failure(c.name, 0, std::string("unexpected exception: ") + e.what());
    }
    const bool ok = slimtest::g_failures == before;
    failed_cases += ok ? 0 : 1;
    std::printf("[%s] %s\n", ok ? " OK " : "FAIL", c.name);
  }
  std::printf("%d failed of %zu\n", failed_cases, sizeof(kCases) / sizeof(kCases[0]));
  return failed_cases == 0 ? 0 : 1;
}
