// engine._engine: a thin nanobind layer over slimlab/engine.h. Python-facing
// conveniences (dtype checks with numpy names, metadata objects) live in
// engine/__init__.py; this file only converts arrays and releases the GIL.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>

#include "slimlab/engine.h"

namespace nb = nanobind;

namespace {

slim::DType dtype_from_dlpack(nb::dlpack::dtype d) {
  using Code = nb::dlpack::dtype_code;
  const auto code = static_cast<Code>(d.code);
  if (d.lanes != 1) return slim::DType::kUndefined;
  if (code == Code::Float && d.bits == 32) return slim::DType::kFloat32;
  if (code == Code::Float && d.bits == 16) return slim::DType::kFloat16;
  if (code == Code::Int && d.bits == 64) return slim::DType::kInt64;
  if (code == Code::Int && d.bits == 32) return slim::DType::kInt32;
  if (code == Code::Int && d.bits == 8) return slim::DType::kInt8;
  if (code == Code::UInt && d.bits == 8) return slim::DType::kUInt8;
  if (code == Code::Bool && d.bits == 8) return slim::DType::kBool;
  return slim::DType::kUndefined;
}

nb::dlpack::dtype dlpack_from_dtype(slim::DType d) {
  switch (d) {
    case slim::DType::kFloat32: return nb::dtype<float>();
    case slim::DType::kFloat16: return {static_cast<uint8_t>(nb::dlpack::dtype_code::Float), 16, 1};
    case slim::DType::kInt64: return nb::dtype<int64_t>();
    case slim::DType::kInt32: return nb::dtype<int32_t>();
    case slim::DType::kInt8: return nb::dtype<int8_t>();
    case slim::DType::kUInt8: return nb::dtype<uint8_t>();
    case slim::DType::kBool: return nb::dtype<bool>();
    default: throw slim::Error(std::string("output dtype ") + slim::dtype_name(d) + " has no numpy equivalent");
  }
}

using InArray = nb::ndarray<nb::c_contig, nb::device::cpu, nb::ro>;

slim::Options options(int threads, const std::string& isa, size_t max_memory_bytes, bool keep_intermediates) {
  slim::Options o;
  o.threads = threads;
  o.isa = isa;
  o.max_memory_bytes = max_memory_bytes;
  o.keep_intermediates = keep_intermediates;
  return o;
}

nb::object to_numpy(slim::Tensor&& t) {
  // The capsule owns a copy of the shared_ptr, so numpy keeps the bytes alive.
  auto* keep = new std::shared_ptr<void>(std::move(t.storage));
  nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<std::shared_ptr<void>*>(p); });
  std::vector<size_t> shape(t.shape.begin(), t.shape.end());
  nb::ndarray<nb::numpy> arr(t.data, shape.size(), shape.data(), owner, nullptr, dlpack_from_dtype(t.dtype));
  return nb::cast(arr);
}

nb::list describe(const std::vector<slim::TensorInfo>& infos) {
  nb::list out;
  for (const auto& i : infos)
    out.append(nb::make_tuple(i.name, i.shape, i.dim_names, slim::dtype_name(i.dtype)));
  return out;
}

}  // namespace

NB_MODULE(_engine, m) {
  m.doc() = "slimlab C++ inference engine (use the `engine` package, not this module)";
  nb::exception<slim::Error>(m, "EngineError", PyExc_RuntimeError);

  nb::class_<slim::Session>(m, "Session")
      .def("__init__",
           [](slim::Session* self, const std::string& path, int threads, const std::string& isa,
              size_t max_memory_bytes, bool keep_intermediates) {
             const slim::Options o = options(threads, isa, max_memory_bytes, keep_intermediates);
             nb::gil_scoped_release release;
             new (self) slim::Session(path, o);
           },
           nb::arg("path"), nb::arg("threads") = 1, nb::arg("isa") = "",
           nb::arg("max_memory_bytes") = slim::Options().max_memory_bytes, nb::arg("keep_intermediates") = false)
      .def_static("from_bytes",
                  [](nb::bytes data, int threads, const std::string& isa, size_t max_memory_bytes,
                     bool keep_intermediates) {
                    return new slim::Session(data.c_str(), data.size(),
                                             options(threads, isa, max_memory_bytes, keep_intermediates));
                  },
                  nb::arg("data"), nb::arg("threads") = 1, nb::arg("isa") = "",
                  nb::arg("max_memory_bytes") = slim::Options().max_memory_bytes,
                  nb::arg("keep_intermediates") = false)
      .def_prop_ro("inputs", [](const slim::Session& s) { return describe(s.inputs()); })
      .def_prop_ro("outputs", [](const slim::Session& s) { return describe(s.outputs()); })
      .def_prop_ro("metadata",
                   [](const slim::Session& s) {
                     nb::dict d;
                     for (const auto& [k, v] : s.metadata()) d[nb::str(k.c_str(), k.size())] = nb::str(v.c_str(), v.size());
                     return d;
                   })
      .def_prop_ro("isa", &slim::Session::isa)
      .def_prop_ro("threads", &slim::Session::threads)
      .def("run",
           [](slim::Session& s, const std::vector<std::string>& names, const std::map<std::string, InArray>& feeds) {
             std::map<std::string, slim::TensorView> views;
             for (const auto& [name, arr] : feeds) {
               slim::TensorView v;
               v.data = arr.data();
               v.dtype = dtype_from_dlpack(arr.dtype());
               for (size_t d = 0; d < arr.ndim(); ++d) v.shape.push_back(static_cast<int64_t>(arr.shape(d)));
               views.emplace(name, std::move(v));
             }
             std::vector<slim::Tensor> outs;
             {
               nb::gil_scoped_release release;
               outs = s.run(views, names);
             }
             nb::list result;
             for (auto& t : outs) result.append(to_numpy(std::move(t)));
             return result;
           },
           nb::arg("output_names"), nb::arg("feeds"))
      .def("profile",
           [](const slim::Session& s) {
             nb::list out;
             for (const auto& p : s.profile())
               out.append(nb::make_tuple(p.node, p.op_type, p.kernel, p.calls, p.total_ms));
             return out;
           })
      .def("reset_profile", &slim::Session::reset_profile)
      .def_prop_ro("memory", [](const slim::Session& s) {
        const slim::MemoryInfo mi = s.memory();
        return nb::make_tuple(mi.arena_bytes, mi.naive_activation_bytes, mi.weights_bytes, mi.live_peak_bytes);
      });

  m.attr("MAX_THREADS") = slim::kMaxThreads;
  m.attr("DEFAULT_MAX_MEMORY_BYTES") = slim::Options().max_memory_bytes;
  m.def("supported_ops", &slim::supported_ops);
  m.def("available_isas", &slim::available_isas);
  m.def(
      "measure_fma_peak",
      [](int threads, double seconds) {
        const slim::PeakInfo p = [&] {
          nb::gil_scoped_release release;  // seconds of pure compute
          return slim::measure_fma_peak(threads, seconds);
        }();
        return nb::make_tuple(p.isa, p.threads, p.gflops);
      },
      nb::arg("threads") = 1, nb::arg("seconds") = 0.3);
  m.attr("__version__") = slim::version();
}
