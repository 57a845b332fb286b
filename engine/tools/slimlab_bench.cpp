// slimlab_bench: latency of one model file on the engine, with random inputs.
//
//   slimlab_bench model.slm [--threads N] [--warmup N] [--runs N]
//                 [--input name:1x3x224x224 ...] [--isa scalar|avx2|avx512|avx512vnni] [--profile]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "slimlab/engine.h"

namespace {

struct Args {
  std::string model;
  int threads = 1, warmup = 3, runs = 20;
  std::string isa;
  bool profile = false;
  std::map<std::string, std::vector<int64_t>> shapes;
};

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "error: %s\nusage: slimlab_bench MODEL.slm [--threads N] [--warmup N] [--runs N] "
               "[--input name:1x3x224x224]... [--isa scalar|avx2|avx512|avx512vnni] [--profile]\n",
               problem.c_str());
  std::exit(2);
}

int to_int(const std::string& flag, const char* text, int min_value) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < min_value || v > 1000000)
    usage(flag + " needs an integer >= " + std::to_string(min_value) + ", got '" + text + "'");
  return static_cast<int>(v);
}

std::pair<std::string, std::vector<int64_t>> parse_shape(const std::string& spec) {
  const size_t colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0) usage("--input wants name:DIMxDIM..., got '" + spec + "'");
  std::vector<int64_t> dims;
  std::string rest = spec.substr(colon + 1);
  size_t pos = 0;
  while (pos <= rest.size()) {
    const size_t x = std::min(rest.find('x', pos), rest.size());
    const std::string part = rest.substr(pos, x - pos);
    dims.push_back(to_int("--input dim", part.c_str(), 0));
    pos = x + 1;
  }
  return {spec.substr(0, colon), dims};
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--threads") a.threads = to_int(arg, value(), 1);
    else if (arg == "--warmup") a.warmup = to_int(arg, value(), 0);
    else if (arg == "--runs") a.runs = to_int(arg, value(), 1);
    else if (arg == "--isa") a.isa = value();
    else if (arg == "--profile") a.profile = true;
    else if (arg == "--input") a.shapes.insert(parse_shape(value()));
    else if (arg.rfind("--", 0) == 0) usage("unknown option " + arg);
    else if (a.model.empty()) a.model = arg;
    else usage("more than one model path");
  }
  if (a.model.empty()) usage("no model file given");
  return a;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  try {
    const auto t0 = std::chrono::steady_clock::now();
    slim::Session session(args.model, {args.threads, args.isa});
    const double create_ms = ms_since(t0);

    std::mt19937 rng(0);
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
    std::vector<std::vector<unsigned char>> storage;
    std::map<std::string, slim::TensorView> feeds;
    for (const auto& info : session.inputs()) {
      std::vector<int64_t> shape = info.shape;
      auto it = args.shapes.find(info.name);
      if (it != args.shapes.end()) shape = it->second;
      for (auto& d : shape) d = d < 0 ? 1 : d;  // symbolic dims default to 1
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      const size_t elem = info.dtype == slim::DType::kInt64 ? 8 : info.dtype == slim::DType::kFloat32 ? 4 : 4;
      storage.emplace_back(static_cast<size_t>(n) * elem);
      if (info.dtype == slim::DType::kFloat32) {
        auto* f = reinterpret_cast<float*>(storage.back().data());
        for (int64_t i = 0; i < n; ++i) f[i] = uni(rng);
      }
      feeds[info.name] = {storage.back().data(), info.dtype, shape};
    }
    for (const auto& kv : args.shapes)
      if (!feeds.count(kv.first)) usage("--input names unknown input '" + kv.first + "'");

    const auto t1 = std::chrono::steady_clock::now();
    session.run(feeds);
    const double first_ms = ms_since(t1);
    for (int i = 0; i < args.warmup; ++i) session.run(feeds);
    session.reset_profile();
    std::vector<double> times;
    for (int i = 0; i < args.runs; ++i) {
      const auto t = std::chrono::steady_clock::now();
      session.run(feeds);
      times.push_back(ms_since(t));
    }
    std::sort(times.begin(), times.end());
    const slim::MemoryInfo mem = session.memory();
    std::printf("model          %s\n", args.model.c_str());
    std::printf("isa / threads  %s / %d\n", session.isa().c_str(), session.threads());
    std::printf("session create %.3f ms\n", create_ms);
    std::printf("first run      %.3f ms\n", first_ms);
    std::printf("latency        min %.3f  median %.3f  max %.3f ms  (%d runs)\n", times.front(),
                times[times.size() / 2], times.back(), args.runs);
    std::printf("arena          %zu bytes (naive %zu), weights %zu bytes\n", mem.arena_bytes,
                mem.naive_activation_bytes, mem.weights_bytes);
    if (args.profile) {
      auto prof = session.profile();
      std::sort(prof.begin(), prof.end(), [](const auto& a, const auto& b) { return a.total_ms > b.total_ms; });
      std::printf("%-40s %-16s %-8s %10s\n", "node", "op", "kernel", "mean ms");
      for (const auto& p : prof)
        std::printf("%-40s %-16s %-8s %10.4f\n", p.node.c_str(), p.op_type.c_str(), p.kernel.c_str(),
                    p.total_ms / static_cast<double>(std::max<int64_t>(1, p.calls)));
    }
  } catch (const slim::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
