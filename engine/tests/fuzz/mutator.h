// Structure-aware mutations of a model file (slm_file.h): each mutant
// rewrites one to three fields (an attribute, a dim, a dtype, an index, an op
// type, a constant's values, the node order ...) and is written back with
// correct sizes and CRCs. Values come from a table of boundary numbers plus
// numbers taken from the model itself (its dims, doubled, halved, off by
// one), which is how a channel count becomes a Conv group, a pad or a stride.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "slm_file.h"

namespace slimfuzz {

// Attribute names the engine's ops read, and strings its string attributes take.
inline const std::vector<std::string>& attr_names() {
  static const std::vector<std::string> v = {
      "group", "pads", "strides", "dilations", "kernel_shape", "auto_pad", "activation", "activation_params",
      "axis", "axes", "perm", "keepdims", "transA", "transB", "alpha", "beta", "gamma", "epsilon", "ceil_mode",
      "count_include_pad", "split", "num_outputs", "mode", "blocksize", "to", "value", "dtype", "start", "end",
      "allowzero", "fmod", "select_last_index", "noop_with_empty_axes", "output_padding", "output_shape",
      "coordinate_transformation_mode", "nearest_mode", "approximate", "training_mode", "min", "max",
      "keep_aspect_ratio_policy", "cubic_coeff_a", "exclude_outside", "extrapolation_value", "storage_order",
      "hidden_size", "direction", "layout", "clip", "activations", "activation_alpha", "activation_beta",
      "input_forget", "linear_before_reset",
      // indexing, scans, selection, normalizations, elementwise extras (ops/indexing.cpp ...)
      "exclusive", "reverse", "upper", "batch_dims", "reduction", "largest", "sorted", "p", "num_groups",
      "stash_type", "size", "bias", "lambd", "detect_positive", "detect_negative", "k", "batch_axis",
      "time_axis"};
  return v;
}

inline const std::vector<std::string>& attr_strings() {
  static const std::vector<std::string> v = {
      "", "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER", "Relu", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish",
      "Sigmoid", "SiLU", "Gelu", "Tanh", "none", "tanh", "constant", "reflect", "edge", "wrap", "nearest", "linear",
      "cubic", "DCR", "CRD", "half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel",
      "half_pixel_symmetric", "tf_crop_and_resize", "floor", "ceil", "round_prefer_floor", "round_prefer_ceil",
      "stretch", "not_larger", "x", "forward", "reverse", "bidirectional", "Sigmoid,Tanh,Tanh", "Affine,Elu",
      "Sigmoid,Tanh,Tanh,Relu,Tanh", ",", "Softplus,", "add", "mul", "max", "LEFT", "RIGHT"};
  return v;
}

class Mutator {
 public:
  Mutator(uint64_t seed, std::vector<std::string> op_types) : rng_(seed), op_types_(std::move(op_types)) {}

  // Applies 1-3 mutations; false when none applied (e.g. an empty graph).
  bool mutate(File& f) {
    collect_dims(f);
    const int n = 1 + static_cast<int>(below(3));
    int done = 0;
    for (int tries = 0; done < n && tries < 20; ++tries) done += one(f) ? 1 : 0;
    return done > 0;
  }

  uint64_t below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool chance(int percent) { return below(100) < static_cast<uint64_t>(percent); }

  int64_t interesting_int() {
    static const int64_t kTable[] = {0, 1, -1, 2, 3, 4, 5, 7, 8, 16, 31, 32, 255, 256, 4095, 65535, 65536,
                                     -2, -3, 2147483647LL, 2147483648LL, -2147483648LL, 4294967295LL,
                                     4294967296LL, int64_t(1) << 40, int64_t(1) << 62,
                                     std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(),
                                     std::numeric_limits<int64_t>::max() - 1, std::numeric_limits<int64_t>::min() + 1};
    if (!dims_.empty() && chance(50)) {
      // Wrapping arithmetic: dims of earlier mutants reach 2^63 - 1.
      const uint64_t d = static_cast<uint64_t>(dims_[below(dims_.size())]);
      switch (below(6)) {
        case 0: return static_cast<int64_t>(d);
        case 1: return static_cast<int64_t>(d + 1);
        case 2: return static_cast<int64_t>(d - 1);
        case 3: return static_cast<int64_t>(d * 2);
        case 4: return static_cast<int64_t>(d / 2);
        default: return static_cast<int64_t>(0 - d);
      }
    }
    if (chance(15)) return static_cast<int64_t>(below(10));
    return kTable[below(sizeof(kTable) / sizeof(kTable[0]))];
  }

  float interesting_float() {
    static const float kTable[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 2.0f, 1e-45f, 1e-38f, 1e38f, -1e38f,
                                   std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                                   std::numeric_limits<float>::quiet_NaN(), 65504.0f, 3.0e9f, -3.0e9f, 9.3e18f};
    return kTable[below(sizeof(kTable) / sizeof(kTable[0]))];
  }

 private:
  void collect_dims(const File& f) {
    dims_.clear();
    for (const Tensor& t : f.tensors)
      for (int64_t d : t.dims)
        if (d > 0) dims_.push_back(d);
  }

  std::string random_string() {
    if (chance(80)) return attr_strings()[below(attr_strings().size())];
    std::string s(below(12), 'a');
    for (char& c : s) c = static_cast<char>('a' + below(26));
    return s;
  }

  void random_value(Attr& a) {
    switch (a.type) {
      case 1: a.i = interesting_int(); break;
      case 2: a.f = interesting_float(); break;
      case 3: a.s = random_string(); break;
      case 4:
        a.ints.resize(below(7));
        for (auto& v : a.ints) v = chance(50) ? static_cast<int64_t>(below(4)) : interesting_int();
        break;
      default:
        a.floats.resize(below(4));
        for (auto& v : a.floats) v = interesting_float();
        break;
    }
  }

  Node* some_node(File& f) { return f.nodes.empty() ? nullptr : &f.nodes[below(f.nodes.size())]; }

  // An index that keeps the graph topologically sortable for node `at`: a
  // graph input, a constant, or an output of an earlier node.
  int32_t earlier_tensor(const File& f, size_t at) {
    std::vector<int32_t> pool;
    for (size_t t = 0; t < f.tensors.size(); ++t)
      if (f.tensors[t].kind != 0) pool.push_back(static_cast<int32_t>(t));
    for (size_t n = 0; n < at && n < f.nodes.size(); ++n)
      for (uint32_t o : f.nodes[n].outputs) pool.push_back(static_cast<int32_t>(o));
    return pool.empty() ? 0 : pool[below(pool.size())];
  }

  bool mutate_attr(File& f) {
    Node* n = some_node(f);
    if (n == nullptr) return false;
    if (n->attrs.empty() || chance(15)) {
      Attr a;
      a.name = attr_names()[below(attr_names().size())];
      for (const Attr& b : n->attrs)
        if (b.name == a.name) return false;
      a.type = static_cast<uint8_t>(1 + below(5));
      random_value(a);
      n->attrs.push_back(a);
      return true;
    }
    Attr& a = n->attrs[below(n->attrs.size())];
    if (a.type == 6 && !a.graph.empty() && chance(80)) {
      // a subgraph: its fields are not modelled here, so its bytes are (the loader's subgraph checks, and
      // past them the ops' checks of a body)
      const size_t at = below(a.graph.size());
      if (chance(50)) a.graph[at] ^= static_cast<uint8_t>(1u << below(8));
      else a.graph[at] = static_cast<uint8_t>(chance(50) ? below(4) : 0xFF);
      return true;
    }
    switch (below(12)) {
      case 0:
        n->attrs.erase(n->attrs.begin() + static_cast<long>(&a - n->attrs.data()));
        return true;
      case 1:
        a.type = static_cast<uint8_t>(1 + below(5));
        random_value(a);
        return true;
      default: break;
    }
    switch (a.type) {
      case 1: a.i = interesting_int(); break;
      case 2: a.f = interesting_float(); break;
      case 3: a.s = random_string(); break;
      case 4:
        if (a.ints.empty() || chance(20)) {
          random_value(a);
        } else if (chance(15)) {
          if (chance(50)) a.ints.pop_back(); else a.ints.push_back(interesting_int());
        } else {
          a.ints[below(a.ints.size())] = interesting_int();
          if (chance(30)) a.ints[below(a.ints.size())] = interesting_int();
        }
        break;
      default:
        if (a.floats.empty() || chance(20)) random_value(a);
        else a.floats[below(a.floats.size())] = interesting_float();
        break;
    }
    return true;
  }

  bool mutate_node_io(File& f) {
    if (f.nodes.empty() || f.tensors.empty()) return false;
    const size_t at = below(f.nodes.size());
    Node& n = f.nodes[at];
    const int32_t nt = static_cast<int32_t>(f.tensors.size());
    switch (below(8)) {
      case 0: case 1: case 2:  // rewire an input, usually keeping the order valid
        if (n.inputs.empty()) return false;
        n.inputs[below(n.inputs.size())] = chance(85) ? earlier_tensor(f, at)
                                           : chance(50) ? -1 : static_cast<int32_t>(below(nt + 2)) - 1;
        return true;
      case 3:
        if (n.inputs.empty()) return false;
        n.inputs.erase(n.inputs.begin() + static_cast<long>(below(n.inputs.size())));
        return true;
      case 4:
        n.inputs.insert(n.inputs.begin() + static_cast<long>(below(n.inputs.size() + 1)),
                        chance(80) ? earlier_tensor(f, at) : -1);
        return true;
      case 5:
        if (n.inputs.size() < 2) return false;
        std::swap(n.inputs[below(n.inputs.size())], n.inputs[below(n.inputs.size())]);
        return true;
      case 6:
        n.outputs[below(n.outputs.size())] = static_cast<uint32_t>(below(nt + 1));
        return true;
      default:
        if (chance(50) && n.outputs.size() > 1) {
          n.outputs.pop_back();
        } else {
          // A fresh value tensor as an extra output keeps "produced once" true.
          Tensor t;
          t.name = n.name + "/extra" + std::to_string(below(1000000));
          f.tensors.push_back(t);
          n.outputs.push_back(static_cast<uint32_t>(f.tensors.size() - 1));
        }
        return true;
    }
  }

  bool mutate_op_type(File& f) {
    Node* n = some_node(f);
    if (n == nullptr || op_types_.empty()) return false;
    n->op = chance(95) ? op_types_[below(op_types_.size())] : random_string();
    return true;
  }

  // Reindexes every reference after tensor `t` is removed (references to it become `replace`).
  static void remove_tensor(File& f, uint32_t t, int32_t replace) {
    if (replace > static_cast<int32_t>(t)) --replace;
    auto fix = [&](int64_t v) -> int64_t { return v == t ? replace : (v > t ? v - 1 : v); };
    for (Node& n : f.nodes) {
      for (auto& i : n.inputs)
        if (i >= 0) i = static_cast<int32_t>(fix(i));
      for (auto& o : n.outputs) o = static_cast<uint32_t>(fix(o));
    }
    for (auto* list : {&f.inputs, &f.outputs})
      for (auto& v : *list) v = static_cast<uint32_t>(fix(v));
    f.tensors.erase(f.tensors.begin() + t);
  }

  bool mutate_node_list(File& f) {
    if (f.nodes.empty()) return false;
    const size_t a = below(f.nodes.size()), b = below(f.nodes.size());
    switch (below(4)) {
      case 0:  // swap two nodes (usually breaks the order)
        std::swap(f.nodes[a], f.nodes[b]);
        return true;
      case 1: {  // delete a node, its consumers reading its first input instead
        Node n = f.nodes[a];
        f.nodes.erase(f.nodes.begin() + static_cast<long>(a));
        int32_t bypass = n.inputs.empty() ? -1 : n.inputs[0];
        std::vector<uint32_t> outs = n.outputs;
        std::sort(outs.rbegin(), outs.rend());
        outs.erase(std::unique(outs.begin(), outs.end()), outs.end());
        for (uint32_t o : outs) {
          if (o >= f.tensors.size() || f.tensors[o].kind != 0) continue;
          if (bypass == static_cast<int32_t>(o)) bypass = -1;
          remove_tensor(f, o, bypass);
          if (bypass > static_cast<int32_t>(o)) --bypass;
        }
        return true;
      }
      case 2: {  // a copy of a node, fed by the original's output, with fresh outputs
        Node n = f.nodes[a];
        n.name += "/copy" + std::to_string(below(1000000));
        if (!n.inputs.empty() && !f.nodes[a].outputs.empty())
          n.inputs[0] = static_cast<int32_t>(f.nodes[a].outputs[0]);
        for (auto& o : n.outputs) {
          Tensor t;
          t.name = n.name + "/out" + std::to_string(&o - n.outputs.data());
          f.tensors.push_back(t);
          o = static_cast<uint32_t>(f.tensors.size() - 1);
        }
        f.nodes.insert(f.nodes.begin() + static_cast<long>(a) + 1, n);
        // Let a later node read it, so its output is used.
        if (a + 2 < f.nodes.size()) {
          Node& later = f.nodes[a + 2 + below(f.nodes.size() - a - 2)];
          if (!later.inputs.empty()) later.inputs[below(later.inputs.size())] = static_cast<int32_t>(n.outputs[0]);
        }
        return true;
      }
      default:  // rename onto another node's name
        f.nodes[a].name = chance(50) ? f.nodes[b].name : random_string();
        return true;
    }
  }

  static int64_t elem_bits(uint8_t dtype) {
    switch (dtype) {
      case 1: case 6: return 32;
      case 7: return 64;
      case 10: return 16;
      case 22: return 4;
      default: return 8;
    }
  }

  bool mutate_tensor(File& f) {
    if (f.tensors.empty()) return false;
    Tensor& t = f.tensors[below(f.tensors.size())];
    switch (below(10)) {
      case 0: case 1: case 2: {  // one dim
        if (t.dims.empty()) return false;
        int64_t& d = t.dims[below(t.dims.size())];
        d = chance(20) ? -1 : interesting_int();
        if (t.kind == 2 && chance(60)) fit_size(t);
        return true;
      }
      case 3: {  // same element count, other shape: passes the size check, fails later (or not)
        int64_t n = 1;
        for (int64_t d : t.dims)
          if (d > 0 && __builtin_mul_overflow(n, d, &n)) return false;
        if (chance(50) && t.dims.size() >= 2) {
          std::swap(t.dims[below(t.dims.size())], t.dims[below(t.dims.size())]);
        } else if (chance(50)) {
          t.dims = {n};
        } else {
          const int64_t k = t.dims.empty() ? 1 : t.dims[below(t.dims.size())];
          t.dims = k > 0 && n % k == 0 ? std::vector<int64_t>{k, n / k} : std::vector<int64_t>{n, 1};
        }
        t.dim_names.resize(t.dims.size());
        return true;
      }
      case 4:  // rank
        if (chance(50) && !t.dims.empty()) {
          t.dims.erase(t.dims.begin() + static_cast<long>(below(t.dims.size())));
        } else {
          t.dims.insert(t.dims.begin() + static_cast<long>(below(t.dims.size() + 1)), chance(70) ? 1 : interesting_int());
        }
        if (chance(10)) t.dims.resize(9 + below(3), 1);
        t.dim_names.resize(t.dims.size());
        return true;
      case 5: {  // dtype (constants: storage too, and the shape refitted to the bytes)
        static const uint8_t kCodes[] = {1, 2, 3, 6, 7, 9, 10, 22, 0, 4, 11, 16};
        t.dtype = kCodes[below(sizeof(kCodes))];
        if (t.kind == 2) {
          t.storage = chance(80) ? t.dtype : kCodes[below(sizeof(kCodes))];
          const int64_t bits = elem_bits(t.storage);
          if (chance(70) && bits > 0) t.dims = {static_cast<int64_t>(t.size * 8 / bits)}, t.dim_names = {""};
        }
        return true;
      }
      case 6:
        t.kind = static_cast<uint8_t>(chance(90) ? below(3) : below(256));
        if (t.kind == 2) {
          t.storage = t.dtype;
          fit_size(t);
        }
        return true;
      case 7:  // symbolic names
        if (t.dims.empty()) return false;
        {
          const size_t i = below(t.dims.size());
          t.dim_names[i] = chance(50) ? "batch" : random_string();
          if (chance(50)) t.dims[i] = -1;
        }
        return true;
      case 8:  // constant placement
        if (t.kind != 2) return false;
        switch (below(4)) {
          case 0: t.offset = static_cast<uint64_t>(interesting_int()); break;
          case 1: t.size = static_cast<uint64_t>(interesting_int()); break;
          case 2: t.offset = below(f.weights.size() / 64 + 1) * 64; break;
          default: t.reserved7[below(7)] = static_cast<uint8_t>(below(256)); break;
        }
        return true;
      default:
        if (chance(50)) t.reserved = static_cast<uint16_t>(below(65536));
        else t.name = chance(50) && !f.tensors.empty() ? f.tensors[below(f.tensors.size())].name : random_string();
        return true;
    }
  }

  // data_size for the current shape and storage, when it is representable.
  void fit_size(Tensor& t) {
    int64_t n = 1;
    for (int64_t d : t.dims) {
      if (d < 0 || (d != 0 && n > (int64_t(1) << 40) / d)) return;
      n *= d;
    }
    const int64_t bits = elem_bits(t.storage);
    t.size = static_cast<uint64_t>((n * bits + 7) / 8);
  }

  // Values of a constant: shape numbers for the int64 tensors that Reshape,
  // Slice, Split, Pad, Expand ... read at plan time; NaN and infinities for floats.
  bool mutate_constant_data(File& f) {
    std::vector<size_t> consts;
    for (size_t i = 0; i < f.tensors.size(); ++i)
      if (f.tensors[i].kind == 2 && f.tensors[i].size > 0) consts.push_back(i);
    if (consts.empty()) return false;
    // Integer constants are few and matter most; prefer them.
    std::vector<size_t> ints;
    for (size_t i : consts)
      if (f.tensors[i].dtype == 7 || f.tensors[i].dtype == 6) ints.push_back(i);
    const Tensor& t = f.tensors[!ints.empty() && chance(75) ? ints[below(ints.size())] : consts[below(consts.size())]];
    if (t.offset > f.weights.size() || t.size > f.weights.size() - t.offset) return false;
    uint8_t* p = f.weights.data() + t.offset;
    f.weights_dirty = true;
    const int edits = 1 + static_cast<int>(below(3));
    for (int e = 0; e < edits; ++e) {
      if (t.storage == 7 && t.size >= 8) {
        const int64_t v = interesting_int();
        std::memcpy(p + 8 * below(t.size / 8), &v, 8);
      } else if ((t.storage == 6 || t.storage == 1) && t.size >= 4) {
        if (t.storage == 6) {
          const int32_t v = static_cast<int32_t>(interesting_int());
          std::memcpy(p + 4 * below(t.size / 4), &v, 4);
        } else {
          const float v = interesting_float();
          std::memcpy(p + 4 * below(t.size / 4), &v, 4);
        }
      } else {
        p[below(t.size)] = static_cast<uint8_t>(chance(50) ? 0xFF : below(256));
      }
    }
    return true;
  }

  bool mutate_graph_io(File& f) {
    auto& list = chance(50) ? f.inputs : f.outputs;
    const uint32_t nt = static_cast<uint32_t>(f.tensors.size());
    switch (below(3)) {
      case 0:
        if (list.empty()) return false;
        list[below(list.size())] = static_cast<uint32_t>(chance(90) ? below(nt) : interesting_int());
        return true;
      case 1:
        list.push_back(static_cast<uint32_t>(below(nt + 1)));
        return true;
      default:
        if (list.empty()) return false;
        list.erase(list.begin() + static_cast<long>(below(list.size())));
        return true;
    }
  }

  bool mutate_header(File& f) {
    switch (below(4)) {
      case 0: f.minor = static_cast<uint16_t>(below(3)); return true;
      case 1: f.flags ^= 1u << below(chance(80) ? 1 : 32); return true;
      case 2:
        f.trailing.resize(below(16), 0);
        if (chance(50) && f.minor == 0) f.minor = 1;
        return true;
      default:
        f.meta.push_back({random_string(), random_string()});
        return true;
    }
  }

  bool one(File& f) {
    const uint64_t r = below(100);
    if (r < 35) return mutate_attr(f);
    if (r < 50) return mutate_node_io(f);
    if (r < 57) return mutate_op_type(f);
    if (r < 63) return mutate_node_list(f);
    if (r < 80) return mutate_tensor(f);
    if (r < 92) return mutate_constant_data(f);
    if (r < 97) return mutate_graph_io(f);
    return mutate_header(f);
  }

  std::mt19937_64 rng_;
  std::vector<std::string> op_types_;
  std::vector<int64_t> dims_;
};

}  // namespace slimfuzz
