// Argument validation for the public entry points: one cheap check per call
// (never per element) that throws std::invalid_argument naming the argument.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace slim::kernels {

[[noreturn]] inline void fail_argument(const char* where, const std::string& what) {
  throw std::invalid_argument(std::string("slim::kernels::") + where + ": " + what);
}

inline void check_positive(const char* where, const char* name, int64_t value) {
  if (value <= 0) fail_argument(where, std::string(name) + " must be positive, got " + std::to_string(value));
}

inline void check_non_negative(const char* where, const char* name, int64_t value) {
  if (value < 0) fail_argument(where, std::string(name) + " must be >= 0, got " + std::to_string(value));
}

inline void check_not_null(const char* where, const char* name, const void* p) {
  if (p == nullptr) fail_argument(where, std::string(name) + " is null");
}

// begin <= end, both inside [0, limit].
inline void check_range(const char* where, const char* name, int64_t begin, int64_t end, int64_t limit) {
  if (begin < 0 || begin > end || end > limit) {
    fail_argument(where, std::string(name) + " [" + std::to_string(begin) + ", " + std::to_string(end) +
                             ") is not inside [0, " + std::to_string(limit) + ")");
  }
}

}  // namespace slim::kernels
