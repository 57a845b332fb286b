#include <random>

#include "core/memory_planner.h"
#include "test_main.h"

TEST(planner_reuses_dead_buffers) {
  // A chain: each buffer is read only by the next step, so two slots suffice.
  std::vector<slim::BufferRequest> reqs;
  for (int s = 0; s < 10; ++s) reqs.push_back({1000, s, s + 1});
  const slim::MemoryPlan p = slim::plan_memory(reqs);
  CHECK(p.naive_bytes == 10 * 1024);
  CHECK(p.arena_bytes == 2 * 1024);
  for (size_t off : p.offsets) CHECK(off % 64 == 0);
}

TEST(planner_never_overlaps_live_buffers) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<slim::BufferRequest> reqs;
    const int n = 1 + static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) {
      const int first = static_cast<int>(rng() % 20);
      reqs.push_back({rng() % 5000, first, first + static_cast<int>(rng() % 6)});
    }
    const slim::MemoryPlan p = slim::plan_memory(reqs);
    CHECK(p.arena_bytes <= p.naive_bytes);
    for (int a = 0; a < n; ++a) {
      CHECK(p.offsets[a] + reqs[a].bytes <= p.arena_bytes);
      for (int b = a + 1; b < n; ++b) {
        const bool live_together =
            reqs[a].first_step <= reqs[b].last_step && reqs[b].first_step <= reqs[a].last_step;
        const bool disjoint = p.offsets[a] + reqs[a].bytes <= p.offsets[b] ||
                              p.offsets[b] + reqs[b].bytes <= p.offsets[a];
        if (live_together && reqs[a].bytes > 0 && reqs[b].bytes > 0) CHECK(disjoint);
      }
    }
  }
}
