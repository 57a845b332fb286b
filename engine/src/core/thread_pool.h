// A small fork-join pool; the calling thread works too, so `threads` = 1 means
// no worker at all.
//
// Between jobs a worker spins for kSpinMicros before it sleeps on a condition
// variable. A model run is a chain of parallel_for calls a few microseconds
// apart, each often shorter than the 10-50 us a sleeping thread needs to wake:
// with sleep-only workers the caller did most of every short op alone and two
// threads ran no faster than one. Spinning only that long after the last job
// keeps an idle pool asleep (the machine is shared), as ONNX Runtime's and
// pthreadpool's spin-then-block workers do.
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

  static constexpr int64_t kSpinMicros = 100;

 private:
  void worker_loop();
  // The next generation after `seen` (spinning, then sleeping), or `seen` when the pool stops.
  uint64_t wait_for_job(uint64_t seen);
  void run_chunks(const RangeFn& job, int64_t n, int64_t chunk);

  int threads_;
  std::vector<std::thread> workers_;
  std::mutex owner_;  // held by the caller whose job the workers serve

  // The job of the current generation: written by the caller before it opens
  // ticket_ (release), read by a worker only after it joined through ticket_
  // (acquire). The caller returns, and may write the next job, only once it
  // has closed the ticket with no worker inside: a worker still asleep when
  // the caller finished never joins, so a slow wake-up (tens of microseconds
  // on a VM) no longer holds up a short op.
  const RangeFn* job_ = nullptr;
  int64_t n_ = 0;
  int64_t chunk_ = 1;
  alignas(64) std::atomic<uint64_t> generation_{0};
  alignas(64) std::atomic<int64_t> next_{0};
  // generation << 32 | kClosed | workers inside the job
  alignas(64) std::atomic<uint64_t> ticket_{0};
  static constexpr uint64_t kClosed = uint64_t(1) << 31;
  std::atomic<bool> stop_{false};

  std::mutex mu_;  // guards sleepers_ and error_, and orders sleeping against waking
  std::condition_variable wake_;
  int sleepers_ = 0;
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
