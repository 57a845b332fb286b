#include "core/memory_planner.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <numeric>

#include "core/aligned.h"

namespace slim {

namespace {

// Free space as offset -> size, kept coalesced.
class FreeList {
 public:
  void release(size_t offset, size_t size) {
    auto next = blocks_.lower_bound(offset);
    if (next != blocks_.end() && offset + size == next->first) {
      size += next->second;
      next = blocks_.erase(next);
    }
    if (next != blocks_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == offset) {
        prev->second += size;
        return;
      }
    }
    blocks_.emplace(offset, size);
  }

  // Best fit; falls back to growing the arena (reusing a free tail block).
  size_t take(size_t size, size_t& arena_end) {
    auto best = blocks_.end();
    for (auto it = blocks_.begin(); it != blocks_.end(); ++it)
      if (it->second >= size && (best == blocks_.end() || it->second < best->second)) best = it;
    if (best != blocks_.end()) {
      const size_t off = best->first, left = best->second - size;
      blocks_.erase(best);
      if (left > 0) blocks_.emplace(off + size, left);
      return off;
    }
    size_t off = arena_end;
    if (!blocks_.empty()) {
      auto last = std::prev(blocks_.end());
      if (last->first + last->second == arena_end) {
        off = last->first;
        blocks_.erase(last);
      }
    }
    arena_end = off + size;
    return off;
  }

 private:
  std::map<size_t, size_t> blocks_;
};

}  // namespace

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (requests[a].first_step != requests[b].first_step) return requests[a].first_step < requests[b].first_step;
    return requests[a].bytes > requests[b].bytes;
  });
  // Live buffers ordered by last use so that expired ones pop off the front.
  std::multimap<int, size_t> live;
  FreeList free_list;
  size_t arena_end = 0;
  for (size_t idx : order) {
    const BufferRequest& r = requests[idx];
    while (!live.empty() && live.begin()->first < r.first_step) {
      const size_t dead = live.begin()->second;
      free_list.release(plan.offsets[dead], align_up(requests[dead].bytes));
      live.erase(live.begin());
    }
    const size_t size = align_up(r.bytes);
    plan.naive_bytes += size;
    if (size == 0) continue;
    plan.offsets[idx] = free_list.take(size, arena_end);
    live.emplace(r.last_step, idx);
  }
  plan.arena_bytes = arena_end;
  return plan;
}

}  // namespace slim
