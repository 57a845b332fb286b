#include "core/loader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/aligned.h"
#include "core/error.h"
#include "core/fp16.h"

namespace slim {

namespace {

constexpr size_t kHeaderSize = 64;
constexpr uint32_t kMaxStr = 65535;
constexpr char kMagic[8] = {'S', 'L', 'I', 'M', 'L', 'A', 'B', '\0'};

// Smallest encodings, used to bound element counts by the bytes left.
constexpr size_t kMinTensorBytes = 4 + 1 + 1 + 2 + 4;
constexpr size_t kMinNodeBytes = 4 + 4 + 4 + 4 + 4;
constexpr size_t kMinAttrBytes = 4 + 1 + 4;
constexpr size_t kMinMetaBytes = 4 + 4;
// Graph attributes nest (a Loop in an If branch ...); each level is a recursion of the reader and
// of the runtime, so a file cannot ask for more than this many.
constexpr int kMaxGraphDepth = 16;

// Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF): names reach Python
// as str, so an invalid sequence must be a load error, not a decode failure later.
bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    size_t len = 0;
    unsigned min = 0, cp = 0;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; min = 0x80; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; min = 0x800; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; min = 0x10000; cp = c & 0x07; }
    else return false;
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// Bounds-checked little-endian cursor over one section.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, size_t base) : data_(data), size_(size), base_(base) {}

  size_t remaining() const { return size_ - pos_; }
  size_t offset() const { return base_ + pos_; }

  template <typename T>
  T read(const char* field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));  // the file is little-endian, like every supported host
    pos_ += sizeof(T);
    return v;
  }

  std::string str(const char* field) {
    const uint32_t len = read<uint32_t>(field);
    SLIM_CHECK(len <= kMaxStr, "model file: ", field, " has length ", len, " > ", kMaxStr, " at offset ",
               offset() - 4);
    need(len, field);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), len);
    SLIM_CHECK(valid_utf8(s), "model file: ", field, " at offset ", offset() - 4, " is not valid UTF-8");
    pos_ += len;
    return s;
  }

  // A count whose elements take at least `min_bytes` each must fit in what is left.
  uint32_t count(const char* field, size_t min_bytes) {
    const uint32_t n = read<uint32_t>(field);
    SLIM_CHECK(n <= remaining() / min_bytes, "model file: ", field, " = ", n, " at offset ", offset() - 4,
               " exceeds what the remaining ", remaining(), " bytes of the graph section can hold");
    return n;
  }

 private:
  void need(size_t n, const char* field) const {
    SLIM_CHECK(n <= remaining(), "model file: graph section truncated reading ", field, " at offset ", offset(),
               " (needs ", n, " bytes, ", remaining(), " left)");
  }
  const uint8_t* data_;
  size_t size_;
  size_t base_;
  size_t pos_ = 0;
};

template <typename T>
T read_at(const uint8_t* p, size_t offset) {
  T v;
  std::memcpy(&v, p + offset, sizeof(T));
  return v;
}

struct Header {
  uint16_t major, minor;
  uint32_t flags;
  uint64_t file_size, graph_offset, graph_size, weights_offset, weights_size;
  uint32_t graph_crc, weights_crc;
};

Header parse_header(const uint8_t* p, size_t size) {
  SLIM_CHECK(size >= kHeaderSize, "model file: ", size, " bytes is too small for the 64-byte header");
  SLIM_CHECK(std::memcmp(p, kMagic, 8) == 0, "model file: bad magic (not a slimlab .slm file)");
  Header h{};
  h.major = read_at<uint16_t>(p, 8);
  h.minor = read_at<uint16_t>(p, 10);
  h.flags = read_at<uint32_t>(p, 12);
  h.file_size = read_at<uint64_t>(p, 16);
  h.graph_offset = read_at<uint64_t>(p, 24);
  h.graph_size = read_at<uint64_t>(p, 32);
  h.weights_offset = read_at<uint64_t>(p, 40);
  h.weights_size = read_at<uint64_t>(p, 48);
  h.graph_crc = read_at<uint32_t>(p, 56);
  h.weights_crc = read_at<uint32_t>(p, 60);
  SLIM_CHECK(h.major == 1, "model file: version_major is ", h.major, ", this engine reads version 1");
  SLIM_CHECK((h.flags & ~1u) == 0, "model file: flags 0x", std::hex, h.flags, " has unknown bits set");
  SLIM_CHECK(h.file_size == size, "model file: header file_size ", h.file_size, " != actual size ", size,
             " (truncated or padded file)");
  SLIM_CHECK(h.graph_offset == kHeaderSize, "model file: graph_offset is ", h.graph_offset, ", must be 64");
  SLIM_CHECK(h.weights_offset % 64 == 0, "model file: weights_offset ", h.weights_offset,
             " is not a multiple of 64");
  SLIM_CHECK(h.weights_offset <= size, "model file: weights_offset ", h.weights_offset, " is past the end");
  SLIM_CHECK(h.graph_size <= h.weights_offset - h.graph_offset, "model file: graph_size ", h.graph_size,
             " overlaps the weights section at ", h.weights_offset);
  SLIM_CHECK(h.weights_size == size - h.weights_offset, "model file: weights_offset + weights_size (",
             h.weights_offset, " + ", h.weights_size, ") != file_size ", size);
  const uint32_t gcrc = crc32(p + h.graph_offset, h.graph_size);
  SLIM_CHECK(gcrc == h.graph_crc, "model file: graph_crc32 mismatch (file is corrupted)");
  const uint32_t wcrc = crc32(p + h.weights_offset, h.weights_size);
  SLIM_CHECK(wcrc == h.weights_crc, "model file: weights_crc32 mismatch (file is corrupted)");
  return h;
}

Shape read_dims(Reader& r, const std::string& owner) {
  const uint32_t rank = r.read<uint32_t>("dims rank");
  SLIM_CHECK(rank <= kMaxRank, "model file: ", owner, " has rank ", rank, " > ", kMaxRank);
  Shape s(rank);
  for (size_t i = 0; i < s.size(); ++i) {
    const int64_t d = r.read<int64_t>("dim");
    SLIM_CHECK(d >= -1 && d <= kMaxElements, "model file: ", owner, " dim ", i, " is ", d,
               " (must be in 0..2^40, or -1 for symbolic)");
    s[i] = d;
  }
  // Static dims of a graph input or value bound what any run can feed or produce.
  Shape known = s;
  for (auto& d : known) d = d < 0 ? 1 : d;
  int64_t n = 0;
  SLIM_CHECK(checked_numel(known, kMaxElements, &n), "model file: ", owner, " shape ", shape_str(s),
             " has more than 2^40 elements");
  return s;
}

void read_tensor(Reader& r, const Header& h, ModelTensor& t, size_t index, bool subgraph) {
  t.name = r.str("tensor name");
  const std::string owner = cat("tensor ", index, " '", t.name, "'");
  const uint8_t dtype = r.read<uint8_t>("tensor dtype");
  SLIM_CHECK(dtype_known(dtype), "model file: ", owner, " has unknown dtype code ", int(dtype));
  t.dtype = static_cast<DType>(dtype);
  const uint8_t kind = r.read<uint8_t>("tensor kind");
  SLIM_CHECK(kind <= 2 || (subgraph && kind == 3), "model file: ", owner, " has unknown kind ", int(kind),
             subgraph ? "" : " (kind 3, a captured value, exists only in subgraphs)");
  t.kind = static_cast<TensorKind>(kind);
  SLIM_CHECK(r.read<uint16_t>("tensor reserved") == 0, "model file: ", owner, " reserved field is not 0");
  t.shape = read_dims(r, owner);
  t.dim_names.resize(t.shape.size());
  for (auto& n : t.dim_names) n = r.str("dim name");
  if (t.kind != TensorKind::kConstant) return;

  const uint8_t storage = r.read<uint8_t>("storage_dtype");
  SLIM_CHECK(storage == dtype || (t.dtype == DType::kFloat32 && storage == uint8_t(DType::kFloat16)),
             "model file: ", owner, " has storage_dtype ", int(storage), " for dtype ", int(dtype));
  t.storage_dtype = static_cast<DType>(storage);
  for (int i = 0; i < 7; ++i)
    SLIM_CHECK(r.read<uint8_t>("constant reserved") == 0, "model file: ", owner, " reserved bytes are not 0");
  const uint64_t off = r.read<uint64_t>("data_offset");
  const uint64_t size = r.read<uint64_t>("data_size");
  int64_t n = 0;
  SLIM_CHECK(checked_numel(t.shape, kMaxElements, &n), "model file: constant ", owner,
             " must have a static shape, got ", shape_str(t.shape));
  SLIM_CHECK(static_cast<uint64_t>(n) <= h.weights_size * 2 + 1, "model file: constant ", owner, " shape ",
             shape_str(t.shape), " is larger than the weights section");
  const uint64_t expect = storage_bytes(t.storage_dtype, static_cast<size_t>(n));
  SLIM_CHECK(size == expect, "model file: constant ", owner, " data_size ", size, " != ", expect,
             " expected for shape ", shape_str(t.shape));
  SLIM_CHECK(off % 64 == 0, "model file: constant ", owner, " data_offset ", off, " is not 64-byte aligned");
  SLIM_CHECK(off <= h.weights_size && size <= h.weights_size - off, "model file: constant ", owner, " data [",
             off, ", +", size, ") lies outside the weights section (", h.weights_size, " bytes)");
  t.data = reinterpret_cast<const void*>(static_cast<uintptr_t>(off));  // relative; resolved by the caller
}

struct ParseCtx {
  const Header& h;
  const uint8_t* file;
};

std::shared_ptr<Model> read_subgraph(Reader& r, const ParseCtx& ctx, int depth, const Model& parent,
                                     const std::string& owner);

Attribute read_attr(Reader& r, const ParseCtx& ctx, int depth, const Model& graph, const std::string& owner,
                    const std::string& name, std::shared_ptr<Model>* sub) {
  Attribute a;
  const uint8_t type = r.read<uint8_t>("attribute type");
  switch (type) {
    case Attribute::kInt: a.i = r.read<int64_t>("int attribute"); break;
    case Attribute::kFloat: a.f = r.read<float>("float attribute"); break;
    case Attribute::kString: a.s = r.str("string attribute"); break;
    case Attribute::kInts: {
      const uint32_t n = r.count("ints attribute length", 8);
      a.ints.resize(n);
      for (auto& v : a.ints) v = r.read<int64_t>("ints attribute");
      break;
    }
    case Attribute::kFloats: {
      const uint32_t n = r.count("floats attribute length", 4);
      a.floats.resize(n);
      for (auto& v : a.floats) v = r.read<float>("floats attribute");
      break;
    }
    case Attribute::kGraph: {
      SLIM_CHECK(depth < kMaxGraphDepth, "model file: ", owner, " attribute '", name, "': subgraphs nest deeper than ",
                 kMaxGraphDepth, " levels");
      *sub = read_subgraph(r, ctx, depth + 1, graph, cat(owner, " attribute '", name, "'"));
      a.graph = *sub;
      break;
    }
    default: fail("model file: ", owner, " attribute '", name, "' has unknown type ", int(type));
  }
  a.type = static_cast<Attribute::Type>(type);
  return a;
}

void read_node(Reader& r, const ParseCtx& ctx, int depth, const Model& graph, ModelNode& node, size_t index) {
  const size_t num_tensors = graph.tensors.size();
  node.op_type = r.str("node op_type");
  node.name = r.str("node name");
  const std::string owner = cat("node ", index, " '", node.name, "' (", node.op_type, ")");
  SLIM_CHECK(!node.op_type.empty(), "model file: node ", index, " has an empty op_type");
  SLIM_CHECK(!node.name.empty(), "model file: node ", index, " (", node.op_type, ") has an empty name");
  node.inputs.resize(r.count("node num_inputs", 4));
  for (auto& i : node.inputs) {
    i = r.read<int32_t>("node input");
    SLIM_CHECK(i >= -1 && i < static_cast<int64_t>(num_tensors), "model file: ", owner, " input index ", i,
               " is out of range (", num_tensors, " tensors)");
  }
  node.outputs.resize(r.count("node num_outputs", 4));
  SLIM_CHECK(!node.outputs.empty(), "model file: ", owner, " has no outputs");
  for (auto& o : node.outputs) {
    o = r.read<uint32_t>("node output");
    SLIM_CHECK(o < num_tensors, "model file: ", owner, " output index ", o, " is out of range (", num_tensors,
               " tensors)");
  }
  node.attrs.set_owner(cat("node '", node.name, "' (", node.op_type, ")"));
  const uint32_t num_attrs = r.count("node num_attrs", kMinAttrBytes);
  std::vector<std::shared_ptr<Model>> subs;
  for (uint32_t k = 0; k < num_attrs; ++k) {
    const std::string name = r.str("attribute name");
    SLIM_CHECK(!node.attrs.has(name), "model file: ", owner, " has attribute '", name, "' twice");
    std::shared_ptr<Model> sub;
    node.attrs.set(name, read_attr(r, ctx, depth, graph, owner, name, &sub));
    if (sub) subs.push_back(std::move(sub));
  }
  // The outer values the subgraphs read become inputs of the node (once each, after its own), so
  // the topological check below, the planner's lifetimes and the op all see them as inputs.
  const size_t own_inputs = node.inputs.size();
  for (const auto& sub : subs) {
    sub->capture_input.clear();
    for (uint32_t outer : sub->captured_from) {
      size_t pos = own_inputs;
      while (pos < node.inputs.size() && node.inputs[pos] != static_cast<int32_t>(outer)) ++pos;
      if (pos == node.inputs.size()) node.inputs.push_back(static_cast<int32_t>(outer));
      sub->capture_input.push_back(pos);
    }
  }
  node.attrs.set_captured_inputs(node.inputs.size() - own_inputs);
}

void check_structure(const Model& m, const std::string& where = "") {
  const size_t nt = m.tensors.size();
  std::unordered_set<std::string> names;
  for (const auto& t : m.tensors)
    SLIM_CHECK(names.insert(t.name).second, "model file: ", where, "tensor name '", t.name, "' is not unique");
  std::vector<bool> is_input(nt, false);
  for (uint32_t i : m.inputs) {
    SLIM_CHECK(i < nt, "model file: ", where, "graph input index ", i, " is out of range (", nt, " tensors)");
    SLIM_CHECK(m.tensors[i].kind == TensorKind::kInput, "model file: ", where, "graph input '", m.tensors[i].name,
               "' does not have kind 1 (graph input)");
    SLIM_CHECK(!is_input[i], "model file: ", where, "graph input '", m.tensors[i].name, "' is listed twice");
    is_input[i] = true;
  }
  for (size_t i = 0; i < nt; ++i)
    SLIM_CHECK(m.tensors[i].kind != TensorKind::kInput || is_input[i], "model file: ", where, "tensor '",
               m.tensors[i].name, "' has kind 1 but is not a graph input");
  std::vector<bool> produced(nt, false);
  std::unordered_set<std::string> node_names;
  for (const auto& node : m.nodes) {
    SLIM_CHECK(node_names.insert(node.name).second, "model file: ", where, "node name '", node.name, "' is not unique");
    for (int32_t i : node.inputs) {
      if (i < 0) continue;
      const ModelTensor& t = m.tensors[static_cast<size_t>(i)];
      SLIM_CHECK(t.kind != TensorKind::kValue || produced[static_cast<size_t>(i)], "model file: ", where, "node '",
                 node.name, "' reads tensor '", t.name, "' before it is produced (nodes must be topologically sorted)");
    }
    for (uint32_t o : node.outputs) {
      const ModelTensor& t = m.tensors[o];
      SLIM_CHECK(t.kind == TensorKind::kValue, "model file: ", where, "node '", node.name, "' writes tensor '", t.name,
                 "' which is a graph input or constant");
      SLIM_CHECK(!produced[o], "model file: ", where, "tensor '", t.name, "' is produced by more than one node");
      produced[o] = true;
    }
  }
  for (size_t i = 0; i < nt; ++i)
    SLIM_CHECK(m.tensors[i].kind != TensorKind::kValue || produced[i], "model file: ", where, "tensor '", m.tensors[i].name,
               "' has kind 0 but no node produces it");
  for (uint32_t o : m.outputs) {
    SLIM_CHECK(o < nt, "model file: ", where, "graph output index ", o, " is out of range (", nt, " tensors)");
    SLIM_CHECK(m.tensors[o].kind == TensorKind::kValue, "model file: ", where, "graph output '", m.tensors[o].name,
               "' is not produced by any node");
  }
  SLIM_CHECK(!m.outputs.empty(), "model file: ", where, "the graph has no outputs");
}

// Resolves constant offsets into pointers, widening fp16 storage to fp32.
void bind_constants(Model& m, const Header& h, const uint8_t* file) {
  m.weights_bytes = 0;
  const uint8_t* weights = file + h.weights_offset;
  bool any_fp16 = false;
  for (auto& t : m.tensors) {
    if (t.kind != TensorKind::kConstant) continue;
    const uintptr_t off = reinterpret_cast<uintptr_t>(t.data);
    const size_t n = static_cast<size_t>(numel(t.shape));
    if (t.storage_dtype == DType::kFloat16 && t.dtype == DType::kFloat32) {
      any_fp16 = true;
      auto buf = aligned_buffer(n * sizeof(float));
      float* dst = static_cast<float*>(buf.get());
      for (size_t i = 0; i < n; ++i) dst[i] = half_to_float(read_at<uint16_t>(weights, off + 2 * i));
      t.data = buf.get();
      m.owned.push_back(std::move(buf));
      m.weights_bytes += n * sizeof(float);
    } else {
      t.data = weights + off;
      m.weights_bytes += storage_bytes(t.storage_dtype, n);
    }
  }
  SLIM_CHECK(!any_fp16 || (h.flags & 1u), "model file: fp16-stored constants present but flags bit 0 is not set");
}

// The part of a graph that a model and a subgraph share: tensors, inputs, outputs, nodes.
void read_graph_body(Reader& r, const ParseCtx& ctx, int depth, Model& m) {
  m.tensors.resize(r.count("num_tensors", kMinTensorBytes));
  for (size_t i = 0; i < m.tensors.size(); ++i) read_tensor(r, ctx.h, m.tensors[i], i, depth > 0);
  m.inputs.resize(r.count("num_inputs", 4));
  for (auto& i : m.inputs) i = r.read<uint32_t>("graph input");
  m.outputs.resize(r.count("num_outputs", 4));
  for (auto& o : m.outputs) o = r.read<uint32_t>("graph output");
  m.num_formal_inputs = m.inputs.size();
  m.nodes.resize(r.count("num_nodes", kMinNodeBytes));
  for (size_t i = 0; i < m.nodes.size(); ++i) read_node(r, ctx, depth, m, m.nodes[i], i);
}

std::shared_ptr<Model> read_subgraph(Reader& r, const ParseCtx& ctx, int depth, const Model& parent,
                                     const std::string& owner) {
  auto g = std::make_shared<Model>();
  read_graph_body(r, ctx, depth, *g);
  // A capture names a tensor of the graph directly around this one (the writer lists a capture of a
  // capture at every level in between), so resolution never searches further out.
  std::unordered_map<std::string, uint32_t> outer;
  for (size_t i = 0; i < parent.tensors.size(); ++i) outer.emplace(parent.tensors[i].name, static_cast<uint32_t>(i));
  for (size_t i = 0; i < g->tensors.size(); ++i) {
    ModelTensor& t = g->tensors[i];
    if (t.kind != TensorKind::kCaptured) continue;
    auto it = outer.find(t.name);
    SLIM_CHECK(it != outer.end(), "model file: ", owner, ": the subgraph reads '", t.name,
               "', which the enclosing graph does not define");
    const ModelTensor& src = parent.tensors[it->second];
    SLIM_CHECK(src.dtype == t.dtype, "model file: ", owner, ": the subgraph reads '", t.name, "' as ",
               dtype_name(t.dtype), ", the enclosing graph defines it as ", dtype_name(src.dtype));
    t.kind = TensorKind::kInput;
    g->inputs.push_back(static_cast<uint32_t>(i));
    g->captured_from.push_back(it->second);
  }
  check_structure(*g, owner + ": ");
  bind_constants(*g, ctx.h, ctx.file);
  return g;
}

// Constants of subgraphs count with the model's weights.
size_t subgraph_weight_bytes(const Model& m) {
  size_t total = 0;
  for (const ModelNode& node : m.nodes)
    for (const auto& kv : node.attrs.all())
      if (kv.second.graph) total += kv.second.graph->weights_bytes + subgraph_weight_bytes(*kv.second.graph);
  return total;
}

Model parse(std::shared_ptr<const void> backing, size_t size) {
  const uint8_t* p = static_cast<const uint8_t*>(backing.get());
  const Header h = parse_header(p, size);
  Model m;
  m.version_minor = h.minor;
  Reader r(p + h.graph_offset, h.graph_size, h.graph_offset);
  const ParseCtx ctx{h, p};
  read_graph_body(r, ctx, 0, m);
  m.meta.resize(r.count("num_meta", kMinMetaBytes));
  for (auto& kv : m.meta) {
    kv.first = r.str("meta key");
    kv.second = r.str("meta value");
  }
  // Later minors may append optional data; a minor-0 file must end exactly here.
  SLIM_CHECK(h.minor > 0 || r.remaining() == 0, "model file: graph section has ", r.remaining(),
             " unexpected trailing bytes");
  check_structure(m);
  bind_constants(m, h, p);
  m.weights_bytes += subgraph_weight_bytes(m);
  m.backing = std::move(backing);
  return m;
}

}  // namespace

Model load_model_bytes(const void* data, size_t size) {
  auto buf = aligned_buffer(size);
  if (size > 0) std::memcpy(buf.get(), data, size);
  return parse(std::move(buf), size);
}

Model load_model_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  SLIM_CHECK(fd >= 0, "cannot open model file '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("model file '", path, "' is not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    fail("model file '", path, "' is empty");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  std::shared_ptr<const void> backing;
  if (map != MAP_FAILED) {
    backing = std::shared_ptr<const void>(map, [size](const void* q) { ::munmap(const_cast<void*>(q), size); });
  } else {
    // Filesystems without mmap support: read the whole file instead.
    auto buf = aligned_buffer(size);
    size_t done = 0;
    while (done < size) {
      const ssize_t got = ::read(fd, static_cast<uint8_t*>(buf.get()) + done, size - done);
      if (got <= 0) {
        ::close(fd);
        fail("cannot read model file '", path, "'");
      }
      done += static_cast<size_t>(got);
    }
    backing = std::move(buf);
  }
  ::close(fd);
  try {
    return parse(std::move(backing), size);
  } catch (const Error& e) {
    throw Error(cat(e.what(), " [", path, "]"));
  }
}

}  // namespace slim
