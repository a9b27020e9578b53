//===- Parallel.cpp - The thread pool of compiled loops -------------------===//
//
// --attnres-parallel-to-runtime outlines the body of each parallel loop nest
// into a function of a range of its outer iterations and calls
// attnres_parallel_for, which splits the iterations over this pool. The pool
// has one thread fewer than numThreads() (the caller works too) and is made
// on first use. The matrix products use it as well (BLAS.cpp splits them
// into single-threaded OpenBLAS calls), so one pool owns the cores. Between
// pieces of work its threads spin briefly, then sleep.
//
//===----------------------------------------------------------------------===//

#include "attnres/Runtime/Artifact.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define ATTNRES_PAUSE() _mm_pause()
#else
#define ATTNRES_PAUSE() ((void)0)
#endif

using Body = void (*)(void *, int64_t, int64_t);

namespace {

/// How long an idle pool thread spins before it sleeps.
constexpr std::chrono::microseconds kSpin{200};

/// Set on pool threads and while a loop runs: a loop reached from inside
/// another runs on the thread that reaches it.
thread_local bool insideLoop = false;

class Pool {
public:
  explicit Pool(int threads) {
    for (int i = 1; i < threads; ++i)
      workers.emplace_back([this] { work(); });
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping.store(true, std::memory_order_release);
      generation.fetch_add(1, std::memory_order_release);
    }
    wake.notify_all();
    for (std::thread &t : workers)
      t.join();
  }

  int size() const { return int(workers.size()) + 1; }

  /// Runs body(ctx, begin, end) over [0, n) in `chunks` contiguous pieces,
  /// the caller taking pieces too; returns when all are done.
  void run(Body body, void *ctx, int64_t n, int64_t chunks) {
    std::lock_guard<std::mutex> serial(runMutex);
    job = {body, ctx, n, chunks};
    next.store(0, std::memory_order_relaxed);
    done.store(0, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex);
      generation.fetch_add(1, std::memory_order_release);
    }
    wake.notify_all();
    takeChunks();
    while (done.load(std::memory_order_acquire) < chunks)
      ATTNRES_PAUSE();
  }

private:
  struct Job {
    Body body = nullptr;
    void *ctx = nullptr;
    int64_t n = 0, chunks = 0;
  };

  void takeChunks() {
    for (;;) {
      int64_t c = next.fetch_add(1, std::memory_order_acq_rel);
      if (c >= job.chunks)
        return;
      int64_t begin = job.n * c / job.chunks;
      int64_t end = job.n * (c + 1) / job.chunks;
      job.body(job.ctx, begin, end);
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  void work() {
    insideLoop = true;
    uint64_t seen = 0;
    for (;;) {
      // Spin a little: the next piece of work usually follows within
      // microseconds, and waking a sleeping thread costs more.
      auto until = std::chrono::steady_clock::now() + kSpin;
      while (generation.load(std::memory_order_acquire) == seen &&
             std::chrono::steady_clock::now() < until)
        for (int i = 0; i < 16; ++i)
          ATTNRES_PAUSE();
      if (generation.load(std::memory_order_acquire) == seen) {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] {
          return generation.load(std::memory_order_acquire) != seen;
        });
      }
      seen = generation.load(std::memory_order_acquire);
      if (stopping.load(std::memory_order_acquire))
        return;
      takeChunks();
    }
  }

  std::vector<std::thread> workers;
  std::mutex mutex, runMutex;
  std::condition_variable wake;
  std::atomic<uint64_t> generation{0};
  std::atomic<bool> stopping{false};
  Job job;
  std::atomic<int64_t> next{0}, done{0};
};

std::mutex poolMutex;
Pool *pool = nullptr;

/// The pool for the current thread count, remade when it changes.
Pool *currentPool() {
  int want = mlir::attnres::runtime::numThreads();
  std::lock_guard<std::mutex> lock(poolMutex);
  static bool forkHandled = [] {
    // A forked child has none of the pool's threads: it makes its own
    // (the parent's object is left, it cannot be torn down there).
    pthread_atfork(nullptr, nullptr, [] { pool = nullptr; });
    return true;
  }();
  (void)forkHandled;
  if (!pool || pool->size() != want) {
    delete pool;
    pool = new Pool(want);
  }
  return pool;
}

} // namespace

extern "C" void attnres_parallel_for(void (*body)(void *, int64_t, int64_t),
                                     void *ctx, int64_t n) {
  if (n <= 0)
    return;
  if (n == 1 || insideLoop || mlir::attnres::runtime::numThreads() <= 1) {
    body(ctx, 0, n);
    return;
  }
  Pool *p = currentPool();
  int64_t chunks = std::min<int64_t>(n, p->size());
  insideLoop = true;
  p->run(body, ctx, n, chunks);
  insideLoop = false;
}
