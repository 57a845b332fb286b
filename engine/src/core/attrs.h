// Node attributes with typed accessors. Getters with a default follow ONNX
// defaults; getters without one are for required attributes. Every error names
// the node, so a bad model points at the exact place.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace slim {

struct Model;  // core/model.h: a graph attribute holds a nested graph

struct Attribute {
  enum Type : uint8_t { kInt = 1, kFloat = 2, kString = 3, kInts = 4, kFloats = 5, kGraph = 6 };
  Type type = kInt;
  int64_t i = 0;
  float f = 0.0f;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::shared_ptr<const Model> graph;  // kGraph (If's branches, Loop's and Scan's body)
};

const char* attr_type_name(Attribute::Type type);

class Attributes {
 public:
  // `owner` is how errors name the node, e.g. "node 'conv1' (Conv)".
  void set_owner(std::string owner) { owner_ = std::move(owner); }
  const std::string& owner() const { return owner_; }
  void set(const std::string& name, Attribute value) { items_[name] = std::move(value); }
  bool has(const std::string& name) const { return items_.count(name) != 0; }
  const std::map<std::string, Attribute>& all() const { return items_; }

  int64_t get_int(const std::string& name) const;
  int64_t get_int(const std::string& name, int64_t fallback) const;
  float get_float(const std::string& name) const;
  float get_float(const std::string& name, float fallback) const;
  std::string get_string(const std::string& name) const;
  std::string get_string(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> get_ints(const std::string& name) const;
  std::vector<int64_t> get_ints(const std::string& name, const std::vector<int64_t>& fallback) const;
  std::vector<float> get_floats(const std::string& name) const;
  std::vector<float> get_floats(const std::string& name, const std::vector<float>& fallback) const;
  const Model& get_graph(const std::string& name) const;

  // Node inputs the loader appended after the node's own: the outer values its subgraphs read
  // (their captures, FORMAT.md), so that the planner keeps them alive and hands them to the op.
  void set_captured_inputs(size_t n) { captured_inputs_ = n; }
  size_t captured_inputs() const { return captured_inputs_; }

 private:
  const Attribute& typed(const std::string& name, Attribute::Type type) const;
  std::string owner_ = "node";
  std::map<std::string, Attribute> items_;
  size_t captured_inputs_ = 0;
};

}  // namespace slim
