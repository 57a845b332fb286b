// Error construction helpers: every failure is a slim::Error (public header)
// whose message is assembled from its parts, so call sites stay one line.
#pragma once

#include <sstream>
#include <string>
#include <utility>

#include "slimlab/engine.h"

namespace slim {

template <typename... Parts>
std::string cat(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return os.str();
}

template <typename... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  throw Error(cat(std::forward<Parts>(parts)...));
}

}  // namespace slim

#define SLIM_CHECK(cond, ...)        \
  do {                               \
    if (!(cond)) ::slim::fail(__VA_ARGS__); \
  } while (0)
