#include "core/aligned.h"

#include <cstdlib>

#include "core/error.h"

namespace slim {

std::shared_ptr<void> aligned_buffer(size_t bytes) {
  void* p = std::aligned_alloc(kAlignment, align_up(bytes == 0 ? 1 : bytes));
  SLIM_CHECK(p != nullptr, "out of memory allocating ", bytes, " bytes");
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

}  // namespace slim
