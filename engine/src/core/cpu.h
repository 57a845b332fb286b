// What the CPU can run, and which level a session actually uses.
#pragma once

#include <string>
#include <vector>

#include "core/isa.h"

namespace slim {

// Highest level this CPU and OS support (CPUID + XGETBV: the OS must save the
// wide registers, otherwise AVX instructions fault even when CPUID lists them).
Isa detect_isa();

// The level a session runs at: `requested` ("" = no request; throws when above
// what the CPU has) or else the SLIMLAB_ISA environment variable (capped at
// detect_isa()). Throws on an unknown name.
Isa resolve_isa(const std::string& requested);

Isa parse_isa(const std::string& name);  // throws slim::Error on an unknown name
std::vector<Isa> isas_up_to(Isa top);

}  // namespace slim
