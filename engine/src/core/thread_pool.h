// A small fork-join pool. Workers sleep on a condition variable between jobs
// (no spinning: the machine is shared), and the calling thread works too, so
// `threads` = 1 means no worker at all.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace slim {

using RangeFn = std::function<void(int64_t begin, int64_t end)>;

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }

  // Calls fn on disjoint ranges covering [0, n), each at least `grain` long
  // (except the last). When another call already holds the workers (a second
  // run() of the same session on another thread) it runs inline instead of
  // waiting, which keeps concurrent runs correct and deadlock-free.
  void parallel_for(int64_t n, int64_t grain, const RangeFn& fn);

 private:
  void worker_loop();
  void run_chunks(const RangeFn& job, int64_t n, int64_t chunk);

  int threads_;
  std::vector<std::thread> workers_;
  std::mutex owner_;  // held by the caller whose job the workers serve

  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  const RangeFn* job_ = nullptr;
  int inflight_ = 0;  // workers currently holding job_
  int64_t n_ = 0;
  int64_t chunk_ = 1;
  std::atomic<int64_t> next_{0};
  std::exception_ptr error_;
};

// Sets FTZ/DAZ (flush denormals to zero) for the current thread and restores
// the previous mode on destruction: denormal arithmetic is ~100x slower on x86.
class DenormalsFlushScope {
 public:
  DenormalsFlushScope();
  ~DenormalsFlushScope();
  DenormalsFlushScope(const DenormalsFlushScope&) = delete;
  DenormalsFlushScope& operator=(const DenormalsFlushScope&) = delete;

 private:
  unsigned saved_ = 0;
};

bool denormals_flushed();  // for tests: are FTZ and DAZ both set on this thread?

}  // namespace slim
