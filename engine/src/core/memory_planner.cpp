#include "core/memory_planner.h"

#include <algorithm>
#include <cstdint>
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

MemoryPlan plan_in_order_of_use(const std::vector<BufferRequest>& requests) {
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

MemoryPlan plan_largest_first(const std::vector<BufferRequest>& requests) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order;
  for (size_t i = 0; i < requests.size(); ++i)
    if (requests[i].bytes > 0) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return align_up(requests[a].bytes) > align_up(requests[b].bytes);
  });
  std::vector<size_t> placed;  // by offset, so gaps are found in one pass
  std::vector<std::pair<size_t, size_t>> busy;  // [begin, end) of placed buffers alive with the current one
  for (size_t idx : order) {
    const BufferRequest& r = requests[idx];
    const size_t size = align_up(r.bytes);
    busy.clear();
    for (size_t j : placed) {
      const BufferRequest& q = requests[j];
      if (q.first_step <= r.last_step && r.first_step <= q.last_step)
        busy.emplace_back(plan.offsets[j], plan.offsets[j] + align_up(q.bytes));
    }
    std::sort(busy.begin(), busy.end());
    // the smallest gap that fits (best fit), else the end of the last conflicting buffer
    size_t best = SIZE_MAX, best_gap = SIZE_MAX, cursor = 0;
    for (const auto& [b, e] : busy) {
      if (b > cursor && b - cursor >= size && b - cursor < best_gap) {
        best = cursor;
        best_gap = b - cursor;
      }
      cursor = std::max(cursor, e);
    }
    if (best == SIZE_MAX) best = cursor;
    plan.offsets[idx] = best;
    plan.arena_bytes = std::max(plan.arena_bytes, best + size);
    placed.push_back(idx);
  }
  for (const BufferRequest& r : requests) plan.naive_bytes += align_up(r.bytes);
  return plan;
}

size_t live_peak(const std::vector<BufferRequest>& requests) {
  std::map<int, int64_t> delta;  // step -> bytes born minus bytes dead before it
  for (const BufferRequest& r : requests) {
    const int64_t size = static_cast<int64_t>(align_up(r.bytes));
    delta[r.first_step] += size;
    delta[r.last_step + 1] -= size;
  }
  int64_t live = 0, peak = 0;
  for (const auto& [step, d] : delta) {
    live += d;
    peak = std::max(peak, live);
  }
  return static_cast<size_t>(peak);
}

}  // namespace

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests) {
  MemoryPlan a = plan_in_order_of_use(requests);
  // largest-first is quadratic in the buffers: past a few thousand (never a real model's activations)
  // planning time would show, and the first placement alone is kept
  constexpr size_t kMaxForLargestFirst = 4096;
  if (requests.size() <= kMaxForLargestFirst) {
    MemoryPlan b = plan_largest_first(requests);
    if (b.arena_bytes < a.arena_bytes) a = std::move(b);
  }
  a.live_peak_bytes = live_peak(requests);
  return a;
}

}  // namespace slim
