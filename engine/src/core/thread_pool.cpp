#include "core/thread_pool.h"

#include <algorithm>

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
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunks(const RangeFn& job, int64_t n, int64_t chunk) {
  for (;;) {
    const int64_t begin = next_.fetch_add(chunk);
    if (begin >= n) return;
    try {
      job(begin, std::min(n, begin + chunk));
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::worker_loop() {
  // Workers live as long as the pool, so one scope here covers every job.
  DenormalsFlushScope flush;
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    wake_.wait(lk, [&] { return stop_ || (generation_ != seen && job_ != nullptr); });
    if (stop_) return;
    seen = generation_;
    ++inflight_;
    // Copied under the lock: the caller clears job_ once it has claimed the last chunk.
    const RangeFn* job = job_;
    const int64_t n = n_, chunk = chunk_;
    lk.unlock();
    run_chunks(*job, n, chunk);
    lk.lock();
    if (--inflight_ == 0) idle_.notify_all();
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
  {
    std::lock_guard<std::mutex> lk(mu_);
    // ~4 chunks per thread balances uneven rows without much atomic traffic.
    const int64_t target = (n + threads_ * 4 - 1) / (threads_ * 4);
    chunk_ = std::max(grain, target);
    n_ = n;
    next_.store(0);
    job_ = &fn;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  run_chunks(fn, n, chunk_);
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lk(mu_);
    job_ = nullptr;  // late wakers must not pick up a finished job
    idle_.wait(lk, [&] { return inflight_ == 0; });
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace slim
