//===- ParallelTest.cpp - The runtime's thread pool -----------------------===//
//
// attnres_parallel_for covers [0, n) exactly once in contiguous pieces,
// whatever the thread count, and a call from inside a piece runs on the
// thread that makes it.
//
//===----------------------------------------------------------------------===//

#include "attnres/Runtime/Artifact.h"

#include "gtest/gtest.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace {

TEST(ParallelTest, CoversEveryIterationOnce) {
  for (int threads : {1, 2, 3, 8}) {
    attnres_set_num_threads(threads);
    for (int64_t n : {0, 1, 2, 5, 7, 64, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> pieces{0};
      mlir::attnres::runtime::parallelFor(n, [&](int64_t begin, int64_t end) {
        EXPECT_LE(0, begin);
        EXPECT_LT(begin, end);
        EXPECT_LE(end, n);
        ++pieces;
        for (int64_t i = begin; i < end; ++i)
          ++hits[size_t(i)];
      });
      for (int64_t i = 0; i < n; ++i)
        EXPECT_EQ(hits[size_t(i)].load(), 1) << i << " of " << n;
      // At most one piece per thread, never more pieces than iterations.
      EXPECT_LE(pieces.load(),
                std::max<int64_t>(std::min<int64_t>(n, threads), 0));
    }
  }
}

TEST(ParallelTest, UsesSeveralThreadsAndNestsInline) {
  attnres_set_num_threads(2);
  std::mutex mutex;
  std::set<std::thread::id> outer, inner;
  std::atomic<int> started{0};
  mlir::attnres::runtime::parallelFor(2, [&](int64_t, int64_t) {
    std::thread::id self = std::this_thread::get_id();
    // Each piece waits (a while at most) for the other to start: the caller
    // could otherwise take both before the pool's thread wakes.
    ++started;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (started.load() < 2 && std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
    {
      std::lock_guard<std::mutex> lock(mutex);
      outer.insert(self);
    }
    // A nested loop runs whole on this thread.
    mlir::attnres::runtime::parallelFor(4, [&](int64_t begin, int64_t end) {
      EXPECT_EQ(begin, 0);
      EXPECT_EQ(end, 4);
      std::lock_guard<std::mutex> lock(mutex);
      inner.insert(std::this_thread::get_id());
    });
  });
  EXPECT_EQ(outer.size(), 2u);
  EXPECT_EQ(inner, outer);
}

TEST(ParallelTest, WorksInAForkedChild) {
  attnres_set_num_threads(2);
  mlir::attnres::runtime::parallelFor(8, [](int64_t, int64_t) {});
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The pool's threads are not in the child: every piece must still run
    // (the caller takes what no thread takes, and the child makes a pool of
    // its own), never a wait for threads that are gone (a hang ends at the
    // alarm).
    alarm(20);
    std::atomic<int64_t> sum{0};
    mlir::attnres::runtime::parallelFor(1000, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        sum += i;
    });
    _exit(sum == 999 * 1000 / 2 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

} // namespace
