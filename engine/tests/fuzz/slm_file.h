// A model file (FORMAT.md) as editable fields, for the structure-aware
// fuzzer: parse() reads any file whose encoding is readable, whatever its
// values, and serialize() writes the fields back with a header whose sizes
// and CRCs are right, so a mutant gets past the checksums to the code that
// trusts the fields. Deliberately independent of the engine's loader: it must
// read what the loader rejects and write what the loader would never produce.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/loader.h"

namespace slimfuzz {

struct Attr {
  std::string name;
  uint8_t type = 1;  // 1 int, 2 float, 3 string, 4 ints, 5 floats, 6 graph (anything else is written as int)
  int64_t i = 0;
  float f = 0.0f;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<uint8_t> graph;  // type 6: the subgraph's bytes, kept as they are (mutated as bytes)
};

struct Tensor {
  std::string name;
  uint8_t dtype = 1, kind = 0;
  uint16_t reserved = 0;
  std::vector<int64_t> dims;
  std::vector<std::string> dim_names;  // written with dims.size() entries
  // Constants (kind 2) only.
  uint8_t storage = 1;
  uint8_t reserved7[7] = {0, 0, 0, 0, 0, 0, 0};
  uint64_t offset = 0, size = 0;
};

struct Node {
  std::string op, name;
  std::vector<int32_t> inputs;
  std::vector<uint32_t> outputs;
  std::vector<Attr> attrs;
};

struct File {
  uint16_t major = 1, minor = 0;
  uint32_t flags = 0;
  std::vector<Tensor> tensors;
  std::vector<uint32_t> inputs, outputs;
  std::vector<Node> nodes;
  std::vector<std::pair<std::string, std::string>> meta;
  std::vector<uint8_t> trailing;  // graph bytes after the metadata (minor > 0)
  std::vector<uint8_t> weights;
  // The weights' CRC as parsed, reused by serialize() until a mutation
  // touches the weights (set weights_dirty): large weights make the CRC the
  // costliest part of writing a mutant.
  uint32_t weights_crc = 0;
  bool weights_dirty = true;
};

namespace detail {

class In {
 public:
  In(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  template <typename T>
  bool get(T* v) {
    if (n_ - pos_ < sizeof(T)) return false;
    std::memcpy(v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool str(std::string* s) {
    uint32_t len = 0;
    if (!get(&len) || n_ - pos_ < len) return false;
    s->assign(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return true;
  }
  // A count of elements of at least `min_bytes` each that still fit.
  bool count(uint32_t* c, size_t min_bytes) { return get(c) && *c <= (n_ - pos_) / min_bytes; }
  size_t left() const { return n_ - pos_; }
  const uint8_t* here() const { return p_ + pos_; }
  bool skip(size_t n) {
    if (n_ - pos_ < n) return false;
    pos_ += n;
    return true;
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

class Out {
 public:
  template <typename T>
  void put(T v) {
    const auto* b = reinterpret_cast<const uint8_t*>(&v);
    data.insert(data.end(), b, b + sizeof(T));
  }
  void str(const std::string& s) {
    put<uint32_t>(static_cast<uint32_t>(s.size()));
    data.insert(data.end(), s.begin(), s.end());
  }
  std::vector<uint8_t> data;
};

// Walks one subgraph (FORMAT.md "subgraph"), nested ones included, without keeping it.
inline bool skip_subgraph(In& r, int depth) {
  if (depth > 32) return false;
  uint32_t n = 0, k = 0;
  if (!r.count(&n, 12)) return false;
  for (uint32_t t = 0; t < n; ++t) {
    std::string name;
    uint8_t dtype = 0, kind = 0;
    uint16_t reserved = 0;
    uint32_t rank = 0;
    if (!r.str(&name) || !r.get(&dtype) || !r.get(&kind) || !r.get(&reserved) || !r.count(&rank, 8) ||
        !r.skip(rank * 8u))
      return false;
    for (uint32_t d = 0; d < rank; ++d)
      if (!r.str(&name)) return false;
    if (kind == 2 && !r.skip(8 + 8 + 8)) return false;
  }
  for (int list = 0; list < 2; ++list)
    if (!r.count(&n, 4) || !r.skip(n * 4u)) return false;
  if (!r.count(&n, 20)) return false;
  for (uint32_t i = 0; i < n; ++i) {
    std::string s;
    if (!r.str(&s) || !r.str(&s) || !r.count(&k, 4) || !r.skip(k * 4u) || !r.count(&k, 4) || !r.skip(k * 4u) ||
        !r.count(&k, 9))
      return false;
    for (uint32_t a = 0, m = 0; a < k; ++a) {
      uint8_t type = 0;
      if (!r.str(&s) || !r.get(&type)) return false;
      switch (type) {
        case 1: if (!r.skip(8)) return false; break;
        case 2: if (!r.skip(4)) return false; break;
        case 3: if (!r.str(&s)) return false; break;
        case 4: if (!r.count(&m, 8) || !r.skip(m * 8u)) return false; break;
        case 5: if (!r.count(&m, 4) || !r.skip(m * 4u)) return false; break;
        case 6: if (!skip_subgraph(r, depth + 1)) return false; break;
        default: return false;
      }
    }
  }
  return true;
}

}  // namespace detail

inline bool parse(const uint8_t* data, size_t size, File* f) {
  if (size < 64 || std::memcmp(data, "SLIMLAB\0", 8) != 0) return false;
  uint64_t goff, gsize, woff, wsize;
  std::memcpy(&f->major, data + 8, 2);
  std::memcpy(&f->minor, data + 10, 2);
  std::memcpy(&f->flags, data + 12, 4);
  std::memcpy(&goff, data + 24, 8);
  std::memcpy(&gsize, data + 32, 8);
  std::memcpy(&woff, data + 40, 8);
  std::memcpy(&wsize, data + 48, 8);
  std::memcpy(&f->weights_crc, data + 60, 4);
  f->weights_dirty = false;
  if (goff != 64 || gsize > size - 64 || woff > size || wsize > size - woff) return false;
  f->weights.assign(data + woff, data + woff + wsize);
  detail::In r(data + goff, gsize);
  uint32_t n = 0;
  if (!r.count(&n, 12)) return false;
  f->tensors.resize(n);
  for (Tensor& t : f->tensors) {
    uint32_t rank = 0;
    if (!r.str(&t.name) || !r.get(&t.dtype) || !r.get(&t.kind) || !r.get(&t.reserved) || !r.count(&rank, 8))
      return false;
    t.dims.resize(rank);
    for (auto& d : t.dims)
      if (!r.get(&d)) return false;
    t.dim_names.resize(rank);
    for (auto& s : t.dim_names)
      if (!r.str(&s)) return false;
    if (t.kind == 2) {
      if (!r.get(&t.storage)) return false;
      for (auto& b : t.reserved7)
        if (!r.get(&b)) return false;
      if (!r.get(&t.offset) || !r.get(&t.size)) return false;
    }
  }
  for (auto* list : {&f->inputs, &f->outputs}) {
    if (!r.count(&n, 4)) return false;
    list->resize(n);
    for (auto& v : *list)
      if (!r.get(&v)) return false;
  }
  if (!r.count(&n, 20)) return false;
  f->nodes.resize(n);
  for (Node& node : f->nodes) {
    if (!r.str(&node.op) || !r.str(&node.name) || !r.count(&n, 4)) return false;
    node.inputs.resize(n);
    for (auto& v : node.inputs)
      if (!r.get(&v)) return false;
    if (!r.count(&n, 4)) return false;
    node.outputs.resize(n);
    for (auto& v : node.outputs)
      if (!r.get(&v)) return false;
    if (!r.count(&n, 9)) return false;
    node.attrs.resize(n);
    for (Attr& a : node.attrs) {
      if (!r.str(&a.name) || !r.get(&a.type)) return false;
      uint32_t k = 0;
      switch (a.type) {
        case 1: if (!r.get(&a.i)) return false; break;
        case 2: if (!r.get(&a.f)) return false; break;
        case 3: if (!r.str(&a.s)) return false; break;
        case 4:
          if (!r.count(&k, 8)) return false;
          a.ints.resize(k);
          for (auto& v : a.ints)
            if (!r.get(&v)) return false;
          break;
        case 5:
          if (!r.count(&k, 4)) return false;
          a.floats.resize(k);
          for (auto& v : a.floats)
            if (!r.get(&v)) return false;
          break;
        case 6: {
          const uint8_t* start = r.here();
          if (!detail::skip_subgraph(r, 0)) return false;
          a.graph.assign(start, r.here());
          break;
        }
        default: return false;
      }
    }
  }
  if (!r.count(&n, 8)) return false;
  f->meta.resize(n);
  for (auto& kv : f->meta)
    if (!r.str(&kv.first) || !r.str(&kv.second)) return false;
  f->trailing.assign(r.here(), r.here() + r.left());
  return true;
}

inline std::vector<uint8_t> serialize(const File& f) {
  detail::Out g;
  g.put<uint32_t>(static_cast<uint32_t>(f.tensors.size()));
  for (const Tensor& t : f.tensors) {
    g.str(t.name);
    g.put(t.dtype);
    g.put(t.kind);
    g.put(t.reserved);
    g.put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) g.put(d);
    for (size_t i = 0; i < t.dims.size(); ++i) g.str(i < t.dim_names.size() ? t.dim_names[i] : std::string());
    if (t.kind == 2) {
      g.put(t.storage);
      for (uint8_t b : t.reserved7) g.put(b);
      g.put(t.offset);
      g.put(t.size);
    }
  }
  for (const auto* list : {&f.inputs, &f.outputs}) {
    g.put<uint32_t>(static_cast<uint32_t>(list->size()));
    for (uint32_t v : *list) g.put(v);
  }
  g.put<uint32_t>(static_cast<uint32_t>(f.nodes.size()));
  for (const Node& n : f.nodes) {
    g.str(n.op);
    g.str(n.name);
    g.put<uint32_t>(static_cast<uint32_t>(n.inputs.size()));
    for (int32_t v : n.inputs) g.put(v);
    g.put<uint32_t>(static_cast<uint32_t>(n.outputs.size()));
    for (uint32_t v : n.outputs) g.put(v);
    g.put<uint32_t>(static_cast<uint32_t>(n.attrs.size()));
    for (const Attr& a : n.attrs) {
      g.str(a.name);
      const uint8_t type = a.type >= 1 && a.type <= 6 ? a.type : 1;
      g.put(type);
      switch (type) {
        case 1: g.put(a.i); break;
        case 2: g.put(a.f); break;
        case 3: g.str(a.s); break;
        case 4:
          g.put<uint32_t>(static_cast<uint32_t>(a.ints.size()));
          for (int64_t v : a.ints) g.put(v);
          break;
        case 6: g.data.insert(g.data.end(), a.graph.begin(), a.graph.end()); break;
        default:
          g.put<uint32_t>(static_cast<uint32_t>(a.floats.size()));
          for (float v : a.floats) g.put(v);
          break;
      }
    }
  }
  g.put<uint32_t>(static_cast<uint32_t>(f.meta.size()));
  for (const auto& kv : f.meta) {
    g.str(kv.first);
    g.str(kv.second);
  }
  g.data.insert(g.data.end(), f.trailing.begin(), f.trailing.end());

  const uint64_t gsize = g.data.size();
  const uint64_t woff = (64 + gsize + 63) / 64 * 64;
  const uint64_t file_size = woff + f.weights.size();
  detail::Out h;
  for (char c : std::string("SLIMLAB", 8)) h.put(c);
  h.put(f.major);
  h.put(f.minor);
  h.put(f.flags);
  h.put(file_size);
  h.put<uint64_t>(64);
  h.put(gsize);
  h.put(woff);
  h.put<uint64_t>(f.weights.size());
  h.put(slim::crc32(g.data.data(), g.data.size()));
  h.put(f.weights_dirty ? slim::crc32(f.weights.data(), f.weights.size()) : f.weights_crc);
  std::vector<uint8_t> out = std::move(h.data);
  out.insert(out.end(), g.data.begin(), g.data.end());
  out.resize(woff, 0);
  out.insert(out.end(), f.weights.begin(), f.weights.end());
  return out;
}

}  // namespace slimfuzz
