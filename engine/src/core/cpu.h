// Which instruction-set level a session uses. What the CPU runs is
// kernels::cpu_isa() (the kernels library owns CPU feature detection).
#pragma once

#include <string>
#include <vector>

#include "core/isa.h"

namespace slim {

// The level a session runs at: `requested` ("" = no request; throws when above
// what the CPU has) or else the SLIMLAB_ISA environment variable (capped at
// kernels::cpu_isa()). Throws on an unknown name.
Isa resolve_isa(const std::string& requested);

Isa parse_isa(const std::string& name);  // throws slim::Error on an unknown name
std::vector<Isa> isas_up_to(Isa top);

}  // namespace slim
