#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define SLIM_HAVE_MXCSR 1
#endif

namespace slim {

namespace {
constexpr unsigned kFtzDaz = 0x8040;  // MXCSR bits 15 (FTZ) and 6 (DAZ)
}

DenormalsFlushScope::DenormalsFlushScope() {
#ifdef SLIM_HAVE_MXCSR
  saved_ = _mm_getcsr();
  _mm_setcsr(saved_ | kFtzDaz);
#endif
}

DenormalsFlushScope::~DenormalsFlushScope() {
#ifdef SLIM_HAVE_MXCSR
  _mm_setcsr(saved_);
#endif
}

bool denormals_flushed() {
#ifdef SLIM_HAVE_MXCSR
  return (_mm_getcsr() & kFtzDaz) == kFtzDaz;
#else
  return false;
#endif
}

ThreadPool::ThreadPool(int threads) : threads_(std::max(1, threads)) {
  for (int i = 1; i < threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunks(const RangeFn& job, int64_t n, int64_t chunk) {
  for (;;) {
    const int64_t begin = next_.fetch_add(chunk, std::memory_order_relaxed);
    if (begin >= n) return;
    try {
      job(begin, std::min(n, begin + chunk));
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

namespace {

inline void cpu_relax() {
#ifdef SLIM_HAVE_MXCSR
  _mm_pause();
#endif
}

}  // namespace

uint64_t ThreadPool::wait_for_job(uint64_t seen) {
  const auto start = std::chrono::steady_clock::now();
  const auto limit = std::chrono::microseconds(kSpinMicros);
  for (uint32_t i = 1;; ++i) {
    const uint64_t g = generation_.load(std::memory_order_acquire);
    if (g != seen || stop_.load(std::memory_order_relaxed)) return g;
    cpu_relax();
    if ((i & 63) == 0 && std::chrono::steady_clock::now() - start > limit) break;
  }
  std::unique_lock<std::mutex> lk(mu_);
  ++sleepers_;
  wake_.wait(lk, [&] { return stop_.load() || generation_.load(std::memory_order_acquire) != seen; });
  --sleepers_;
  return generation_.load(std::memory_order_acquire);
}

void ThreadPool::worker_loop() {
  // Workers live as long as the pool, so one scope here covers every job.
  DenormalsFlushScope flush;
  uint64_t seen = 0;
  for (;;) {
    const uint64_t g = wait_for_job(seen);
    if (stop_.load()) return;
    seen = g;
    // Join generation g unless its caller already closed it (or moved on).
    uint64_t t = ticket_.load(std::memory_order_acquire);
    bool joined = false;
    while ((t >> 32) == (g & 0xFFFFFFFFu) && (t & kClosed) == 0) {
      if (ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        joined = true;
        break;
      }
    }
    if (!joined) continue;
    run_chunks(*job_, n_, chunk_);
    ticket_.fetch_sub(1, std::memory_order_release);
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const RangeFn& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (workers_.empty() || n <= grain) {
    fn(0, n);
    return;
  }
  std::unique_lock<std::mutex> own(owner_, std::try_to_lock);
  if (!own.owns_lock()) {
    fn(0, n);
    return;
  }
  // ~4 chunks per thread balances uneven rows without much atomic traffic.
  const int64_t target = (n + threads_ * 4 - 1) / (threads_ * 4);
  job_ = &fn;
  n_ = n;
  chunk_ = std::max(grain, target);
  next_.store(0, std::memory_order_relaxed);
  bool wake = false;
  {
    // Under the lock: a worker that found no job while spinning re-checks the generation under it before it
    // sleeps, so it either sees this bump or is counted in sleepers_ and notified.
    std::lock_guard<std::mutex> lk(mu_);
    error_ = nullptr;
    const uint64_t g = generation_.load(std::memory_order_relaxed) + 1;
    ticket_.store((g & 0xFFFFFFFFu) << 32, std::memory_order_release);
    generation_.store(g, std::memory_order_release);
    wake = sleepers_ > 0;
  }
  if (wake) wake_.notify_all();
  run_chunks(fn, n, chunk_);
  // No chunk is left: close the ticket so that no worker joins any more, then
  // wait for those inside, which are finishing their last chunk.
  uint64_t t = ticket_.fetch_or(kClosed, std::memory_order_acq_rel) | kClosed;
  for (uint32_t i = 1; (t & (kClosed - 1)) != 0; ++i) {
    cpu_relax();
    if ((i & 1023) == 0) std::this_thread::yield();
    t = ticket_.load(std::memory_order_acquire);
  }
  std::exception_ptr error;
  {
    std::lock_guard<std::mutex> lk(mu_);
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace slim
