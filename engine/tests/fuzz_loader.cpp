// Fuzz target for the loader + session creation. With SLIMLAB_LIBFUZZER it is
// a libFuzzer entry point (clang); otherwise main() mutates a valid seed model
// for a bounded number of iterations / seconds, fixing the CRCs of half of
// the mutants so that mutations reach the structural checks.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "model_writer.h"
#include "slimlab/engine.h"

namespace {

void load_once(const uint8_t* data, size_t size) {
  try {
    slim::Session s(data, size);
  } catch (const slim::Error&) {
    // Expected for malformed input; anything else (crash, other exception) is a finding.
  }
}

}  // namespace

// libFuzzer's entry point, which declares it nowhere we can include.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  load_once(data, size);
  // Mutants rarely keep valid CRCs; a CRC-fixed copy lets them reach the parser.
  std::vector<uint8_t> fixed(data, data + size);
  slimtest::ModelWriter::fix_crcs(fixed);
  load_once(fixed.data(), fixed.size());
  return 0;
}

#ifndef SLIMLAB_LIBFUZZER
int main(int argc, char** argv) {
  long iterations = 2000, seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--iterations") == 0) iterations = std::atol(argv[i + 1]);
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atol(argv[i + 1]);
  }
  const auto seed = slimtest::small_conv_model().bytes();
  std::mt19937 rng(42);
  const auto t0 = std::chrono::steady_clock::now();
  long done = 0;
  for (; done < iterations; ++done) {
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(seconds)) break;
    auto f = seed;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % f.size();
      switch (rng() % 4) {
        case 0: f[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        case 1: f[at] = static_cast<uint8_t>(rng()); break;
        case 2: f.resize(at); break;
        default: std::memset(&f[at], 0xFF, std::min<size_t>(4, f.size() - at)); break;
      }
      if (f.empty()) break;
    }
    if (done % 2 == 0) slimtest::ModelWriter::fix_crcs(f);
    load_once(f.data(), f.size());
  }
  std::printf("fuzz_loader: %ld mutants, no crash\n", done);
  return 0;
}
#endif
