// Structure-aware fuzz target for the whole path a model file takes: load
// (every field), session creation (op attributes, weight packing), planning
// (shape inference, memory plan) and one inference on inputs built from the
// model's own input description, under ASan and UBSan.
//
// With SLIMLAB_LIBFUZZER (clang) it is a libFuzzer target whose custom
// mutator parses the format and rewrites fields (mutator.h), so mutants keep
// valid CRCs; otherwise main() is a standalone driver (gcc) running the same
// mutator over seed files for a bounded number of mutants or seconds, and
// replaying crash regressions. Commands: see usage() below and
// tests/engine/fuzz/campaign.py.
#include <signal.h>
#include <unistd.h>
#include <fcntl.h>
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mutator.h"
#include "slimlab/engine.h"

// The death callback exists only in a sanitizer runtime (not in the coverage build).
#if defined(__SANITIZE_ADDRESS__)
#define SLIMFUZZ_HAVE_SANITIZER_API 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLIMFUZZ_HAVE_SANITIZER_API 1
#endif
#endif
#ifdef SLIMFUZZ_HAVE_SANITIZER_API
#include <sanitizer/common_interface_defs.h>
#endif

namespace {

// Small enough that an accepted mutant runs in milliseconds; the engine must
// refuse anything bigger with a slim::Error at plan time.
constexpr size_t kMaxMemory = size_t(64) << 20;
constexpr int64_t kMaxFeedElements = int64_t(1) << 20;

std::vector<std::string> op_types() {
  std::vector<std::string> v;
  for (const auto& kv : slim::supported_ops()) v.push_back(kv.first);
  return v;
}

uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

struct Feed {
  std::vector<uint8_t> bytes;
  slim::TensorView view;
};

// The value of a symbolic dim for one run, varied by `pick` (from the input's
// hash): a batch of 0, 1 or 2, and image sides from 0 px to the sizes the seeds
// were exported at, so shape inference and kernels meet empty, tiny and odd sizes too.
int64_t symbolic_value(const std::string& name, uint64_t pick) {
  static const int64_t kBatch[] = {1, 2, 1, 0};
  static const int64_t kSides[] = {32, 16, 1, 7, 32, 28, 2, 0};
  if (name == "batch") return kBatch[pick & 3];
  return kSides[(pick >> 2) % 8];  // one size for every other symbolic dim: square images
}

// Inputs as the model describes them. False when they would be too large to
// build (the run is then skipped).
bool make_feeds(const slim::Session& s, uint64_t pick, bool special_values, std::vector<Feed>& feeds,
                std::map<std::string, slim::TensorView>& views) {
  feeds.assign(s.inputs().size(), {});
  for (size_t k = 0; k < s.inputs().size(); ++k) {
    const slim::TensorInfo& info = s.inputs()[k];
    Feed& f = feeds[k];
    int64_t n = 1;
    for (size_t i = 0; i < info.shape.size(); ++i) {
      const int64_t d = info.shape[i];
      const int64_t v = d < 0 ? symbolic_value(info.dim_names[i], pick) : d;
      if (v != 0 && n > kMaxFeedElements / v) return false;
      f.view.shape.push_back(v);
      n *= v;
    }
    f.view.dtype = info.dtype;
    size_t width = 0;
    switch (info.dtype) {
      case slim::DType::kFloat32: case slim::DType::kInt32: width = 4; break;
      case slim::DType::kInt64: width = 8; break;
      case slim::DType::kFloat16: width = 2; break;
      default: width = 1; break;
    }
    f.bytes.assign(static_cast<size_t>(n) * width + 1, 0);
    for (int64_t i = 0; i < n; ++i) {
      uint8_t* p = f.bytes.data() + static_cast<size_t>(i) * width;
      switch (info.dtype) {
        case slim::DType::kFloat32: {
          float v = static_cast<float>((static_cast<uint64_t>(i) * 2654435761u) % 1000) / 250.0f - 2.0f;
          if (special_values && i < 3) v = i == 0 ? NAN : (i == 1 ? INFINITY : -INFINITY);
          std::memcpy(p, &v, 4);
          break;
        }
        case slim::DType::kInt32: { const int32_t v = static_cast<int32_t>(i % 3); std::memcpy(p, &v, 4); break; }
        case slim::DType::kInt64: { const int64_t v = i % 3; std::memcpy(p, &v, 8); break; }
        case slim::DType::kBool: *p = static_cast<uint8_t>(i & 1); break;
        default: *p = static_cast<uint8_t>(i * 7); break;
      }
    }
    f.view.data = f.bytes.data();
    views[info.name] = f.view;
  }
  return true;
}

enum Stage { kRejectedAtLoad, kRejectedAtRun, kRan, kSkipped };

// A clean refusal. "internal error" is how the engine wraps an exception that
// only a missing check lets through (core/op.h guard_internal): a finding.
std::string g_last_error;  // the refusal of the last run, for replay reports

void expected(const slim::Error& e) {
  g_last_error = e.what();
  if (std::strstr(e.what(), "internal error") == nullptr) return;
  std::fprintf(stderr, "fuzz_model: CRASH: unchecked value reached a kernel: %s\n", e.what());
  std::abort();
}

Stage run_model(const uint8_t* data, size_t size) {
  slim::Options o;
  o.threads = 1;
  o.max_memory_bytes = kMaxMemory;
  std::unique_ptr<slim::Session> s;
  try {
    s = std::make_unique<slim::Session>(data, size, o);
  } catch (const slim::Error& e) {
    expected(e);
    return kRejectedAtLoad;
  }
  const uint64_t h = fnv1a(data, std::min<size_t>(size, 4096));
  std::vector<Feed> feeds;
  std::map<std::string, slim::TensorView> views;
  if (!make_feeds(*s, h >> 8, (h & 3) == 0, feeds, views)) return kSkipped;
  try {
    s->run(views);
  } catch (const slim::Error& e) {
    expected(e);
    return kRejectedAtRun;
  }
  // Another signature for the symbolic dims: a second plan next to the cached one.
  if ((h & 12) == 0) {
    views.clear();
    if (make_feeds(*s, (h >> 8) + 3, false, feeds, views)) {
      try {
        s->run(views);
      } catch (const slim::Error& e) {
        expected(e);
      }
    }
  }
  return kRan;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed);
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Anything but a slim::Error escaping is a finding: libFuzzer reports the
  // uncaught exception (std::invalid_argument from a kernel means an op let
  // an unchecked value through).
  run_model(data, size);
  return 0;
}

namespace {

// Structure-aware when the input parses; otherwise raw bytes with fixed CRCs.
std::vector<uint8_t> mutated(std::vector<uint8_t> bytes, size_t max_size, uint64_t seed,
                             size_t (*raw_mutate)(uint8_t*, size_t, size_t, uint64_t)) {
  static const std::vector<std::string> ops = op_types();
  slimfuzz::File f;
  slimfuzz::Mutator m(seed, ops);
  if (slimfuzz::parse(bytes.data(), bytes.size(), &f) && m.mutate(f)) return slimfuzz::serialize(f);
  const size_t size = bytes.size();
  bytes.resize(std::max(size, max_size));
  bytes.resize(raw_mutate(bytes.data(), size, bytes.size(), seed));
  slimfuzz::File g;
  if (slimfuzz::parse(bytes.data(), bytes.size(), &g)) {
    g.weights_dirty = true;  // raw edits may have hit the weights
    return slimfuzz::serialize(g);
  }
  return bytes;
}

#ifdef SLIMLAB_LIBFUZZER
size_t libfuzzer_raw(uint8_t* data, size_t size, size_t max_size, uint64_t) {
  return LLVMFuzzerMutate(data, size, max_size);
}
#endif

}  // namespace

#ifdef SLIMLAB_LIBFUZZER
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  const std::vector<uint8_t> out = mutated(std::vector<uint8_t>(data, data + size), max_size, seed, libfuzzer_raw);
  if (out.size() > max_size) return size;  // no room for this mutant: keep the input as it is
  std::memcpy(data, out.data(), out.size());
  return out.size();
}
#else

// ---------------------------------------------------------------------------
// Standalone driver (no libFuzzer): the same mutator and target, seeded RNG.
// ---------------------------------------------------------------------------

// A UBSan report ends in abort(), so the SIGABRT handler below saves the input
// (UBSan's exit path does not run the sanitizer death callback).
extern "C" const char* __ubsan_default_options();
extern "C" const char* __ubsan_default_options() { return "abort_on_error=1:print_stacktrace=1"; }

namespace {

const std::vector<uint8_t>* g_current = nullptr;
std::string g_artifacts = ".";

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::string artifact_path(const char* kind, const std::vector<uint8_t>& bytes) {
  char name[64];
  std::snprintf(name, sizeof name, "/%s-%016llx.slm", kind,
                static_cast<unsigned long long>(fnv1a(bytes.data(), bytes.size())));
  return g_artifacts + name;
}

// Sanitizer reports and fatal signals end the process; the input goes first.
void dump_current() {
  if (g_current == nullptr) return;
  const std::string path = artifact_path("crash", *g_current);
  write_file(path, *g_current);
  std::fprintf(stderr, "fuzz_model: crashing input written to %s\n", path.c_str());
}

void on_alarm(int) {
  // Only async-signal-safe calls; the name is formatted by hand.
  static const char msg[] = "fuzz_model: HANG (timeout); input written to ";
  static char g_hang_path[4096];
  const size_t dir = std::min(g_artifacts.size(), sizeof g_hang_path - 64);
  std::memcpy(g_hang_path, g_artifacts.data(), dir);
  const char prefix[] = "/hang-";
  std::memcpy(g_hang_path + dir, prefix, sizeof prefix - 1);
  uint64_t h = g_current != nullptr ? fnv1a(g_current->data(), g_current->size()) : 0;
  char* q = g_hang_path + dir + sizeof prefix - 1;
  for (int i = 15; i >= 0; --i, h >>= 4) q[i] = "0123456789abcdef"[h & 15];
  std::memcpy(q + 16, ".slm", 5);
  if (g_current != nullptr) {
    const int fd = ::open(g_hang_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ssize_t unused = ::write(fd, g_current->data(), g_current->size());
      (void)unused;
      ::close(fd);
    }
  }
  ssize_t unused = ::write(2, msg, sizeof msg - 1);
  unused = ::write(2, g_hang_path, std::strlen(g_hang_path));
  unused = ::write(2, "\n", 1);
  (void)unused;
  _exit(3);
}

void on_fatal(int sig) {
  dump_current();
  signal(sig, SIG_DFL);
  raise(sig);
}

std::vector<std::string> list_files(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  for (const std::string& a : args) {
    struct stat st {};
    if (::stat(a.c_str(), &st) != 0) continue;
    if (!S_ISDIR(st.st_mode)) {
      files.push_back(a);
      continue;
    }
    DIR* d = ::opendir(a.c_str());
    if (d == nullptr) continue;
    std::vector<std::string> here;
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != ".." && name.size() > 4 && name.substr(name.size() - 4) == ".slm")
        here.push_back(a + "/" + name);
    }
    ::closedir(d);
    std::sort(here.begin(), here.end());
    files.insert(files.end(), here.begin(), here.end());
  }
  return files;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::vector<uint8_t> bytes(static_cast<size_t>(std::max<std::streamoff>(0, in.tellg())));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

// A few random bytes changed, for mutants the structure mutator cannot parse.
size_t raw_bytes(uint8_t* data, size_t size, size_t, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int k = 0; k < 4 && size > 0; ++k) data[rng() % size] ^= static_cast<uint8_t>(1u << (rng() % 8));
  return size;
}

struct Counts {
  long mutants = 0, rejected_load = 0, rejected_run = 0, ran = 0, skipped = 0;
};

void count(Counts& c, Stage s) {
  ++c.mutants;
  switch (s) {
    case kRejectedAtLoad: ++c.rejected_load; break;
    case kRejectedAtRun: ++c.rejected_run; break;
    case kRan: ++c.ran; break;
    case kSkipped: ++c.skipped; break;
  }
}

Stage guarded_run(const std::vector<uint8_t>& bytes, unsigned timeout_s) {
  g_current = &bytes;
  if (timeout_s > 0) alarm(timeout_s);
  Stage s = kRejectedAtLoad;
  try {
    s = run_model(bytes.data(), bytes.size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_model: CRASH: uncaught %s\n", e.what());
    dump_current();
    std::abort();
  }
  if (timeout_s > 0) alarm(0);
  g_current = nullptr;
  return s;
}

void print_counts(const char* what, const Counts& c, double seconds) {
  std::printf("fuzz_model: %s: %ld mutants (%ld rejected at load, %ld rejected at run, %ld ran, %ld skipped), "
              "%.1f s, %.0f execs/s, no crash\n",
              what, c.mutants, c.rejected_load, c.rejected_run, c.ran, c.skipped, seconds,
              seconds > 0 ? static_cast<double>(c.mutants) / seconds : 0.0);
}

// A refusal with names and numbers blanked, so that refusals group by kind.
std::string reason_kind(const std::string& msg) {
  std::string out;
  bool quoted = false;
  for (size_t i = 0; i < msg.size() && out.size() < 90; ++i) {
    const char c = msg[i];
    if (c == '\'') {
      quoted = !quoted;
      if (quoted) out += "'*'";
      continue;
    }
    if (quoted) continue;
    if ((c >= '0' && c <= '9') || c == '-') {
      if (out.empty() || out.back() != '#') out += '#';
      continue;
    }
    out += c;
  }
  return out;
}

int usage() {
  std::fprintf(stderr,
               "usage: fuzz_model --fuzz SEEDS... [--iterations N] [--seconds S] [--rng R] [--timeout S]"
               " [--artifacts DIR]\n"
               "       fuzz_model --replay FILES_OR_DIRS... [--timeout S]\n"
               "--reasons: after fuzzing, list the most frequent kinds of refusal\n"
               "SEEDS are .slm files or folders of them; mutants are 1-3 field rewrites of a seed or of an\n"
               "earlier mutant that loaded.\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> paths;
  std::string mode;
  long iterations = 1000;
  double seconds = 1e9;
  uint64_t rng_seed = 1;
  unsigned timeout_s = 30;
  bool reasons = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--fuzz" || a == "--replay") mode = a;
    else if (a == "--iterations") iterations = std::atol(value().c_str());
    else if (a == "--seconds") seconds = std::atof(value().c_str());
    else if (a == "--rng") rng_seed = std::strtoull(value().c_str(), nullptr, 10);
    else if (a == "--timeout") timeout_s = static_cast<unsigned>(std::atoi(value().c_str()));
    else if (a == "--artifacts") g_artifacts = value();
    else if (a == "--reasons") reasons = true;
    else if (a.rfind("--", 0) == 0) return usage();
    else paths.push_back(a);
  }
  if (mode.empty()) return usage();
#ifdef SLIMFUZZ_HAVE_SANITIZER_API
  __sanitizer_set_death_callback(dump_current);
#endif
  signal(SIGALRM, on_alarm);
  for (int sig : {SIGSEGV, SIGFPE, SIGBUS, SIGILL, SIGABRT}) signal(sig, on_fatal);

  const std::vector<std::string> files = list_files(paths);
  if (files.empty()) {
    std::fprintf(stderr, "fuzz_model: no .slm files in the given paths\n");
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  Counts c;
  if (mode == "--replay") {
    for (const std::string& path : files) {
      const Stage s = guarded_run(read_file(path), timeout_s);
      count(c, s);
      static const char* kNames[] = {"rejected at load", "rejected at run", "ran", "skipped"};
      std::printf("  %s: %s%s%s\n", path.c_str(), kNames[s], s == kRejectedAtLoad || s == kRejectedAtRun ? ": " : "",
                  s == kRejectedAtLoad || s == kRejectedAtRun ? g_last_error.substr(0, 300).c_str() : "");
    }
    print_counts("replay", c, elapsed());
    return 0;
  }

  std::vector<std::vector<uint8_t>> seeds;
  for (const std::string& path : files) seeds.push_back(read_file(path));
  // Mutants that loaded are mutated further, so edits stack up beyond three fields.
  std::vector<std::vector<uint8_t>> pool;
  std::map<std::string, long> tally;
  std::mt19937_64 rng(rng_seed);
  for (long k = 0; k < iterations && elapsed() < seconds; ++k) {
    const bool from_pool = !pool.empty() && rng() % 4 == 0;
    const std::vector<uint8_t>& src = from_pool ? pool[rng() % pool.size()] : seeds[rng() % seeds.size()];
    std::vector<uint8_t> bytes = mutated(src, src.size(), rng(), raw_bytes);
    const Stage s = guarded_run(bytes, timeout_s);
    count(c, s);
    if (reasons && (s == kRejectedAtLoad || s == kRejectedAtRun))
      ++tally[std::string(s == kRejectedAtLoad ? "load: " : "run: ") + reason_kind(g_last_error)];
    if (s != kRejectedAtLoad && pool.size() < 256) pool.push_back(std::move(bytes));
    else if (s != kRejectedAtLoad) pool[rng() % pool.size()] = std::move(bytes);
    if (c.mutants % 10000 == 0) print_counts("progress", c, elapsed());
  }
  print_counts("fuzz", c, elapsed());
  std::vector<std::pair<long, std::string>> top;
  for (const auto& kv : tally) top.push_back({kv.second, kv.first});
  std::sort(top.rbegin(), top.rend());
  for (size_t i = 0; i < top.size() && i < 40; ++i) std::printf("  %6ld  %s\n", top[i].first, top[i].second.c_str());
  return 0;
}
#endif
