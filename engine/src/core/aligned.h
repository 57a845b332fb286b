// 64-byte aligned heap buffers (cache line / AVX-512 width), shared-ownership
// so that tensors handed to callers keep their storage alive.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace slim {

constexpr size_t kAlignment = 64;

inline size_t align_up(size_t n, size_t a = kAlignment) { return (n + a - 1) / a * a; }

// Throws slim::Error when the allocation fails.
std::shared_ptr<void> aligned_buffer(size_t bytes);

// An allocator whose elements start uninitialized (default-init) and 64-byte
// aligned: packed weights are written whole by their packer, so the zeroing a
// std::vector<float> does on resize was a memset of every weight at session
// creation, and aligned panels let the kernels' loads stay within cache lines.
template <class T>
struct PackedAllocator {
  using value_type = T;
  PackedAllocator() = default;
  template <class U>
  PackedAllocator(const PackedAllocator<U>&) noexcept {}  // NOLINT: allocator conversion
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kAlignment))); }
  void deallocate(T* p, size_t) noexcept { ::operator delete(p, std::align_val_t(kAlignment)); }
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;  // default-init: no value for a trivial T
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <class U>
  bool operator==(const PackedAllocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const PackedAllocator<U>&) const noexcept { return false; }
};

// Weights packed for a kernel at load time.
template <class T>
using PackedBuffer = std::vector<T, PackedAllocator<T>>;

}  // namespace slim
