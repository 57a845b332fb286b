// Static memory planning: buffers with known sizes and lifetimes (in plan
// steps) get offsets into one arena, reusing the space of dead buffers.
#pragma once

#include <cstddef>
#include <vector>

namespace slim {

struct BufferRequest {
  size_t bytes = 0;
  int first_step = 0;  // step that writes it
  int last_step = 0;   // last step that reads it (inclusive)
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // per request, 64-byte aligned
  size_t arena_bytes = 0;
  size_t naive_bytes = 0;       // sum of all (aligned) sizes: the cost without reuse
  size_t live_peak_bytes = 0;   // most bytes live at one step: no arena can be smaller
};

// Two buffers share memory only if their [first_step, last_step] ranges are
// disjoint. Two placements are tried and the smaller arena kept: best fit in
// order of first use (follows the program), and largest buffer first at the
// lowest offset free over its lifetime (TFLite's greedy-by-size; wins when a
// few big tensors dominate, as in the expanded layers of inverted residuals).
MemoryPlan plan_memory(const std::vector<BufferRequest>& requests);

}  // namespace slim
