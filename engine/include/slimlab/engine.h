// slimlab engine: the whole public C++ API in one header.
//
//   slim::Session s("model.slm", {/*threads=*/4});
//   std::vector<float> x(1 * 3 * 224 * 224);
//   auto outs = s.run({{"input", {x.data(), slim::DType::kFloat32, {1, 3, 224, 224}}}});
//
// Tensors cross the API in plain ONNX (NCHW, row-major) order. Every error is a
// slim::Error whose message names the offending input, node, field or file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace slim {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Values are the ONNX TensorProto codes, which the model file stores.
enum class DType : uint8_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kInt32 = 6,
  kInt64 = 7,
  kBool = 9,
  kFloat16 = 10,
  kInt4 = 22,
};

// numpy spelling ("float32", "int64", ...); "int4" has no numpy equivalent.
const char* dtype_name(DType dtype);

// More threads than this is refused: no CPU a session could use has more
// cores, and each thread is an OS thread created up front.
constexpr int kMaxThreads = 1024;

struct Options {
  int threads = 1;  // 1..kMaxThreads; every kernel of a run uses at most this many (caller included)
  std::string isa;  // "" = best the CPU has; "scalar" | "avx2" | "avx512" | "avx512vnni" caps it lower
  // A model whose weights plus the activation arena of a run's plan need more
  // than this is refused (at load for the weights, at plan time for the rest)
  // with the amount it needs; a hostile file cannot make the engine allocate
  // what the machine does not have. 0 = no cap.
  size_t max_memory_bytes = size_t(4) << 30;
  // Debugging and parity checks: every intermediate value keeps its own
  // buffer (no reuse in the arena), and run() returns any of them by name --
  // the values of the graph as the engine runs it, after the converter's
  // fusions, without adding graph outputs that would stop a fusion.
  bool keep_intermediates = false;
};

struct TensorInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  std::vector<int64_t> shape;           // -1 where the model leaves a dim symbolic
  std::vector<std::string> dim_names;   // symbolic name per dim, "" when static
};

// A non-owning input: `data` holds numel(shape) elements of `dtype`, contiguous
// row-major (C order), and must stay valid for the duration of run(). An empty
// input (a 0 dim) may have data == nullptr.
struct TensorView {
  const void* data = nullptr;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
};

// An owned output; `storage` keeps `data` alive and can be shared (e.g. with numpy).
struct Tensor {
  DType dtype = DType::kUndefined;
  std::vector<int64_t> shape;
  std::shared_ptr<void> storage;
  void* data = nullptr;
  size_t bytes = 0;
};

struct OpProfile {
  std::string node;
  std::string op_type;
  std::string kernel;  // ISA of the kernel variants the node runs, e.g. "avx512"; "scalar" for plain C++
  int64_t calls = 0;
  double total_ms = 0.0;
};

struct MemoryInfo {
  size_t arena_bytes = 0;             // activation arena of the most recent plan (all its segments: FORMAT.md)
  size_t naive_activation_bytes = 0;  // the same activations without buffer reuse
  size_t weights_bytes = 0;           // constants as held in memory (after fp16 widening / packing)
  size_t live_peak_bytes = 0;         // most activation bytes alive at one step: the arena's lower bound
};

class Session {
 public:
  explicit Session(const std::string& path, const Options& options = {});
  // From an in-memory model file (copied); used by tests and fuzzing.
  Session(const void* data, size_t size, const Options& options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::vector<TensorInfo>& inputs() const;
  const std::vector<TensorInfo>& outputs() const;

  // Thread-safe: several threads may call run() on one Session at once.
  // `output_names` empty = all graph outputs in model order; with
  // Options::keep_intermediates, any value a node computes may be named too
  // (returned in plain ONNX layout). Every model input
  // must be given, with its dtype, rank and static dims; symbolic dims sharing a
  // name must agree. An empty batch (or other 0 dim) runs and gives empty
  // outputs, as in ONNX Runtime, where the graph allows it. The first run of an
  // input-shape signature plans it: shape errors and max_memory_bytes refusals
  // come from that run.
  std::vector<Tensor> run(const std::map<std::string, TensorView>& inputs,
                          const std::vector<std::string>& output_names = {});

  // The model file's (key, value) metadata, in file order (e.g. the source model, the opset).
  const std::vector<std::pair<std::string, std::string>>& metadata() const;

  std::vector<OpProfile> profile() const;  // accumulated since creation / reset_profile()
  void reset_profile();
  MemoryInfo memory() const;
  std::string isa() const;
  int threads() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::vector<std::string> available_isas();  // on this CPU, lowest first

// The f32 FMA peak of this machine, measured (register-only FMA chains at the
// best ISA the CPU has, on `threads` threads at once, best timing over
// `seconds`): the denominator of "fraction of peak" figures.
struct PeakInfo {
  std::string isa;
  int threads = 1;
  double gflops = 0.0;
  float checksum = 0.0f;  // keeps the measured loop observable
};
PeakInfo measure_fma_peak(int threads = 1, double seconds = 0.3);
std::map<std::string, std::vector<std::string>> supported_ops();  // op type -> dtype names
const char* version();

}  // namespace slim
