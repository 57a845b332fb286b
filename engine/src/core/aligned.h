// 64-byte aligned heap buffers (cache line / AVX-512 width), shared-ownership
// so that tensors handed to callers keep their storage alive.
#pragma once

#include <cstddef>
#include <memory>

namespace slim {

constexpr size_t kAlignment = 64;

inline size_t align_up(size_t n, size_t a = kAlignment) { return (n + a - 1) / a * a; }

// Throws slim::Error when the allocation fails.
std::shared_ptr<void> aligned_buffer(size_t bytes);

}  // namespace slim
