#include "core/attrs.h"

#include "core/error.h"

namespace slim {

const char* attr_type_name(Attribute::Type type) {
  switch (type) {
    case Attribute::kInt: return "int";
    case Attribute::kFloat: return "float";
    case Attribute::kString: return "string";
    case Attribute::kInts: return "ints";
    case Attribute::kFloats: return "floats";
    case Attribute::kGraph: return "graph";
  }
  return "unknown";
}

const Attribute& Attributes::typed(const std::string& name, Attribute::Type type) const {
  auto it = items_.find(name);
  SLIM_CHECK(it != items_.end(), owner_, ": required attribute '", name, "' is missing");
  SLIM_CHECK(it->second.type == type, owner_, ": attribute '", name, "' must be ",
             attr_type_name(type), ", got ", attr_type_name(it->second.type));
  return it->second;
}

int64_t Attributes::get_int(const std::string& name) const { return typed(name, Attribute::kInt).i; }
int64_t Attributes::get_int(const std::string& name, int64_t fallback) const {
  return has(name) ? get_int(name) : fallback;
}
float Attributes::get_float(const std::string& name) const { return typed(name, Attribute::kFloat).f; }
float Attributes::get_float(const std::string& name, float fallback) const {
  return has(name) ? get_float(name) : fallback;
}
std::string Attributes::get_string(const std::string& name) const {
  return typed(name, Attribute::kString).s;
}
std::string Attributes::get_string(const std::string& name, const std::string& fallback) const {
  return has(name) ? get_string(name) : fallback;
}
std::vector<int64_t> Attributes::get_ints(const std::string& name) const {
  return typed(name, Attribute::kInts).ints;
}
std::vector<int64_t> Attributes::get_ints(const std::string& name,
                                          const std::vector<int64_t>& fallback) const {
  return has(name) ? get_ints(name) : fallback;
}
std::vector<float> Attributes::get_floats(const std::string& name) const {
  return typed(name, Attribute::kFloats).floats;
}
std::vector<float> Attributes::get_floats(const std::string& name,
                                          const std::vector<float>& fallback) const {
  return has(name) ? get_floats(name) : fallback;
}

const Model& Attributes::get_graph(const std::string& name) const {
  const Attribute& a = typed(name, Attribute::kGraph);
  SLIM_CHECK(a.graph != nullptr, owner_, ": attribute '", name, "' holds no graph");
  return *a.graph;
}

}  // namespace slim
