#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "test_main.h"

TEST(pool_covers_range_exactly_once) {
  for (int threads : {1, 2, 4}) {
    slim::ThreadPool pool(threads);
    for (int64_t n : {0, 1, 7, 1000, 12345}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.parallel_for(n, 3, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
      });
      for (auto& h : hits) CHECK(h.load() == 1);
    }
  }
}

TEST(pool_uses_several_threads) {
  slim::ThreadPool pool(3);
  std::atomic<int> concurrent{0}, peak{0};
  pool.parallel_for(64, 1, [&](int64_t, int64_t) {
    const int now = ++concurrent;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    --concurrent;
  });
  CHECK(peak.load() >= 2);
}

TEST(pool_concurrent_callers_are_correct) {
  slim::ThreadPool pool(2);
  std::vector<std::thread> callers;
  std::atomic<int64_t> total{0};
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 50; ++rep)
        pool.parallel_for(100, 1, [&](int64_t b, int64_t e) { total += e - b; });
    });
  for (auto& c : callers) c.join();
  CHECK(total.load() == 4 * 50 * 100);
}

TEST(pool_propagates_exceptions) {
  slim::ThreadPool pool(2);
  CHECK_THROWS(pool.parallel_for(100, 1, [](int64_t b, int64_t) {
    if (b >= 50) slim::fail("chunk ", b, " failed");
  }), "failed");
  int64_t seen = 0;  // still usable afterwards
  pool.parallel_for(10, 10, [&](int64_t b, int64_t e) { seen += e - b; });
  CHECK(seen == 10);
}

TEST(pool_flushes_denormals) {
  {
    slim::DenormalsFlushScope scope;
    CHECK(slim::denormals_flushed());
  }
  slim::ThreadPool pool(2);
  const auto caller = std::this_thread::get_id();
  std::atomic<int> worker_chunks{0}, worker_unflushed{0};
  for (int rep = 0; rep < 20; ++rep)
    pool.parallel_for(64, 1, [&](int64_t, int64_t) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      if (std::this_thread::get_id() == caller) return;
      ++worker_chunks;
      if (!slim::denormals_flushed()) ++worker_unflushed;
    });
  CHECK(worker_chunks.load() > 0);
  CHECK(worker_unflushed.load() == 0);
  slim::DenormalsFlushScope scope;
  std::atomic<int> all{0};
  pool.parallel_for(16, 1, [&](int64_t b, int64_t e) {
    if (slim::denormals_flushed()) all += static_cast<int>(e - b);
  });
  CHECK(all.load() == 16);
}

// Workers spin for a moment after a job (so the next op of a run finds them awake) and must then sleep: an
// idle pool may not burn a core of a shared machine.
TEST(pool_workers_sleep_when_idle) {
  slim::ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  pool.parallel_for(1000, 1, [&](int64_t b, int64_t e) { sum += e - b; });
  CHECK(sum.load() == 1000);
  auto cpu_seconds = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past the spin window
  const double before = cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double used = cpu_seconds() - before;
  // a spinning worker would use ~0.3 s here
  CHECK(used < 0.05);
  // and a sleeping worker still wakes for the next job
  pool.parallel_for(1000, 1, [&](int64_t b, int64_t e) { sum += e - b; });
  CHECK(sum.load() == 2000);
}
