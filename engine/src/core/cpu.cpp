#include "core/cpu.h"

#include <cstdlib>

#include "core/error.h"
#include "kernels/kernels.h"

namespace slim {

Isa parse_isa(const std::string& name) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni})
    if (name == isa_name(isa)) return isa;
  fail("unknown ISA '", name, "' (valid: scalar, avx2, avx512, avx512vnni)");
}

Isa resolve_isa(const std::string& requested) {
  const Isa top = kernels::cpu_isa();
  if (!requested.empty()) {
    const Isa want = parse_isa(requested);
    SLIM_CHECK(static_cast<int>(want) <= static_cast<int>(top), "isa option asks for ", requested,
               " but this CPU supports at most ", isa_name(top));
    return want;
  }
  const char* env = std::getenv("SLIMLAB_ISA");
  if (env == nullptr || *env == '\0') return top;
  // The variable is often set machine-wide; on a smaller CPU it only caps, never fails.
  Isa want = Isa::kScalar;
  try {
    want = parse_isa(env);
  } catch (const Error& e) {
    fail("SLIMLAB_ISA: ", e.what());
  }
  return static_cast<int>(want) < static_cast<int>(top) ? want : top;
}

std::vector<Isa> isas_up_to(Isa top) {
  std::vector<Isa> out;
  for (int i = 0; i <= static_cast<int>(top); ++i) out.push_back(static_cast<Isa>(i));
  return out;
}

}  // namespace slim
