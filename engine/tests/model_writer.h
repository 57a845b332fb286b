// Test-only writer of model files (FORMAT.md), so C++ tests build their own
// small, hostile or corrupted models in memory.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/loader.h"

namespace slimtest {

class Bytes {
 public:
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    data.insert(data.end(), p, p + sizeof(T));
  }
  void str(const std::string& s) {
    put<uint32_t>(static_cast<uint32_t>(s.size()));
    data.insert(data.end(), s.begin(), s.end());
  }
  std::vector<uint8_t> data;
};

struct WTensor {
  std::string name;
  uint8_t dtype = 1, kind = 0;
  std::vector<int64_t> shape;
  std::vector<std::string> dim_names;
  std::vector<float> values;  // constants: float32 values, or other dtypes' bytes (int64_constant)
};

// An int64 constant: its values travel bit for bit in `values`, two floats each.
inline WTensor int64_constant(std::string name, std::vector<int64_t> shape, const std::vector<int64_t>& v) {
  WTensor t{std::move(name), 7, 2, std::move(shape), {}, std::vector<float>(v.size() * 2)};
  std::memcpy(t.values.data(), v.data(), v.size() * sizeof(int64_t));
  return t;
}

struct ModelWriter;

struct WAttr {
  std::string name;
  uint8_t type;
  int64_t i = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;  // type 6 (a subgraph): `s` names it in ModelWriter::graphs
};

struct WNode {
  std::string op, name;
  std::vector<int32_t> inputs;
  std::vector<uint32_t> outputs;
  std::vector<WAttr> attrs;
};

struct ModelWriter {
  std::vector<WTensor> tensors;
  std::vector<uint32_t> inputs, outputs;
  std::vector<WNode> nodes;
  std::map<std::string, std::shared_ptr<ModelWriter>> graphs;  // graph attributes, by WAttr::s

  uint32_t tensor(WTensor t) {
    if (t.dim_names.size() != t.shape.size()) t.dim_names.resize(t.shape.size());
    tensors.push_back(std::move(t));
    return static_cast<uint32_t>(tensors.size() - 1);
  }

  std::vector<uint8_t> graph_bytes(std::vector<uint8_t>& weights) const {
    Bytes g;
    body(g, weights);
    g.put<uint32_t>(0);  // no metadata
    return g.data;
  }

  // tensors, inputs, outputs, nodes: all a subgraph has
  void body(Bytes& g, std::vector<uint8_t>& weights) const {
    g.put<uint32_t>(static_cast<uint32_t>(tensors.size()));
    for (const auto& t : tensors) {
      g.str(t.name);
      g.put<uint8_t>(t.dtype);
      g.put<uint8_t>(t.kind);
      g.put<uint16_t>(0);
      g.put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
      for (int64_t d : t.shape) g.put<int64_t>(d);
      for (const auto& n : t.dim_names) g.str(n);
      if (t.kind == 2) {
        weights.resize((weights.size() + 63) / 64 * 64, 0);
        g.put<uint8_t>(t.dtype);
        for (int i = 0; i < 7; ++i) g.put<uint8_t>(0);
        g.put<uint64_t>(weights.size());
        g.put<uint64_t>(t.values.size() * 4);
        const auto* p = reinterpret_cast<const uint8_t*>(t.values.data());
        weights.insert(weights.end(), p, p + t.values.size() * 4);
      }
    }
    g.put<uint32_t>(static_cast<uint32_t>(inputs.size()));
    for (auto i : inputs) g.put<uint32_t>(i);
    g.put<uint32_t>(static_cast<uint32_t>(outputs.size()));
    for (auto o : outputs) g.put<uint32_t>(o);
    g.put<uint32_t>(static_cast<uint32_t>(nodes.size()));
    for (const auto& n : nodes) {
      g.str(n.op);
      g.str(n.name);
      g.put<uint32_t>(static_cast<uint32_t>(n.inputs.size()));
      for (auto i : n.inputs) g.put<int32_t>(i);
      g.put<uint32_t>(static_cast<uint32_t>(n.outputs.size()));
      for (auto o : n.outputs) g.put<uint32_t>(o);
      g.put<uint32_t>(static_cast<uint32_t>(n.attrs.size()));
      for (const auto& a : n.attrs) {
        g.str(a.name);
        g.put<uint8_t>(a.type);
        if (a.type == 1) g.put<int64_t>(a.i);
        if (a.type == 3) g.str(a.s);
        if (a.type == 4) {
          g.put<uint32_t>(static_cast<uint32_t>(a.ints.size()));
          for (auto v : a.ints) g.put<int64_t>(v);
        }
        if (a.type == 5) {
          g.put<uint32_t>(static_cast<uint32_t>(a.floats.size()));
          for (auto v : a.floats) g.put<float>(v);
        }
        if (a.type == 6) graphs.at(a.s)->body(g, weights);
      }
    }
  }

  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> weights;
    return assemble(graph_bytes(weights), weights);
  }

  // Wraps any graph bytes in a valid header (correct sizes and CRCs), so tests
  // can reach the graph parser with hostile content.
  static std::vector<uint8_t> assemble(const std::vector<uint8_t>& graph, const std::vector<uint8_t>& weights) {
    const uint64_t woff = (64 + graph.size() + 63) / 64 * 64;
    Bytes h;
    const char magic[8] = {'S', 'L', 'I', 'M', 'L', 'A', 'B', '\0'};
    for (char c : magic) h.put<char>(c);
    h.put<uint16_t>(1);
    h.put<uint16_t>(0);
    h.put<uint32_t>(0);
    h.put<uint64_t>(woff + weights.size());
    h.put<uint64_t>(64);
    h.put<uint64_t>(graph.size());
    h.put<uint64_t>(woff);
    h.put<uint64_t>(weights.size());
    h.put<uint32_t>(slim::crc32(graph.data(), graph.size()));
    h.put<uint32_t>(slim::crc32(weights.data(), weights.size()));
    std::vector<uint8_t> out = h.data;
    out.insert(out.end(), graph.begin(), graph.end());
    out.resize(woff, 0);
    out.insert(out.end(), weights.begin(), weights.end());
    return out;
  }

  // Recomputes both CRCs after a test mutated the bytes (when the header's
  // offsets still fit), so mutations reach the structural checks.
  static void fix_crcs(std::vector<uint8_t>& f) {
    if (f.size() < 64) return;
    uint64_t goff, gsize, woff, wsize;
    std::memcpy(&goff, &f[24], 8);
    std::memcpy(&gsize, &f[32], 8);
    std::memcpy(&woff, &f[40], 8);
    std::memcpy(&wsize, &f[48], 8);
    if (goff <= f.size() && gsize <= f.size() - goff) {
      const uint32_t c = slim::crc32(f.data() + goff, gsize);
      std::memcpy(&f[56], &c, 4);
    }
    if (woff <= f.size() && wsize <= f.size() - woff) {
      const uint32_t c = slim::crc32(f.data() + woff, wsize);
      std::memcpy(&f[60], &c, 4);
    }
  }
};

// x[N,C,H,W] (N symbolic "batch") -> Conv(3x3, pads 1, bias, fused Relu) -> Add(const [C,1,1]) -> y
inline ModelWriter small_conv_model(int64_t c = 2, int64_t m = 3) {
  ModelWriter w;
  const uint32_t x = w.tensor({"x", 1, 1, {-1, c, 4, 4}, {"batch", "", "", ""}, {}});
  std::vector<float> wv(static_cast<size_t>(m * c * 9)), bv(static_cast<size_t>(m)), kv(static_cast<size_t>(m));
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = static_cast<float>((i * 7) % 11) / 11.0f - 0.4f;
  for (size_t i = 0; i < bv.size(); ++i) bv[i] = 0.1f * static_cast<float>(i);
  for (size_t i = 0; i < kv.size(); ++i) kv[i] = 1.0f + static_cast<float>(i);
  const uint32_t wt = w.tensor({"w", 1, 2, {m, c, 3, 3}, {}, wv});
  const uint32_t bt = w.tensor({"b", 1, 2, {m}, {}, bv});
  const uint32_t kt = w.tensor({"k", 1, 2, {m, 1, 1}, {}, kv});
  const uint32_t h = w.tensor({"h", 1, 0, {-1, m, 4, 4}, {"batch", "", "", ""}, {}});
  const uint32_t y = w.tensor({"y", 1, 0, {-1, m, 4, 4}, {"batch", "", "", ""}, {}});
  w.inputs = {x};
  w.outputs = {y};
  WAttr pads{"pads", 4, 0, "", {1, 1, 1, 1}, {}};
  WAttr act{"activation", 3, 0, "Relu", {}, {}};
  w.nodes.push_back({"Conv", "conv", {int32_t(x), int32_t(wt), int32_t(bt)}, {h}, {pads, act}});
  w.nodes.push_back({"Add", "add", {int32_t(h), int32_t(kt)}, {y}, {}});
  return w;
}

}  // namespace slimtest
