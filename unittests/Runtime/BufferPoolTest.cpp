//===- BufferPoolTest.cpp - Reuse of buffers across runs ------------------===//
//
// The pool behind a model's runs: what a run frees comes back to the next
// allocation of its size, aligned, and only blocks the pool made are taken.
//
//===----------------------------------------------------------------------===//

#include "Memory.h"

#include "gtest/gtest.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

extern "C" void *_mlir_memref_to_llvm_alloc(size_t size);
extern "C" void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment,
                                                    size_t size);
extern "C" void _mlir_memref_to_llvm_free(void *p);

using namespace mlir::attnres::runtime;

namespace {

TEST(BufferPoolTest, ReusesABlockOfTheSameSize) {
  BufferPool pool;
  void *a = pool.allocate(1000);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % BufferPool::kAlignment, 0u);
  std::memset(a, 1, 1000);
  EXPECT_TRUE(pool.release(a));
  EXPECT_EQ(pool.idleBytes(), 1024u);
  // Rounded to whole cache lines: 1000 and 1010 bytes share a block.
  EXPECT_EQ(pool.allocate(1010), a);
  EXPECT_EQ(pool.idleBytes(), 0u);
  void *b = pool.allocate(1000);
  EXPECT_NE(b, a);
  EXPECT_TRUE(pool.release(a));
  EXPECT_TRUE(pool.release(b));
  EXPECT_EQ(pool.idleBytes(), 2048u);
  pool.trim();
  EXPECT_EQ(pool.idleBytes(), 0u);
}

TEST(BufferPoolTest, TakesOnlyItsOwnBlocks) {
  BufferPool pool;
  void *foreign = std::malloc(64);
  EXPECT_FALSE(pool.release(foreign));
  EXPECT_EQ(pool.idleBytes(), 0u);
  std::free(foreign);
  void *big = pool.allocate(4096);
  void *small = pool.allocate(64);
  EXPECT_TRUE(pool.release(big));
  // A different size is a different block.
  void *other = pool.allocate(8192);
  EXPECT_NE(other, big);
  EXPECT_TRUE(pool.release(small));
  // `other` stays in use: the pool frees it when it goes (the sanitizer
  // suite would report it otherwise).
}

TEST(BufferPoolTest, ScopesServeCompiledCodeFromThePool) {
  BufferPool pool;
  void *first, *second;
  {
    AllocationScope scope(&pool);
    first = _mlir_memref_to_llvm_aligned_alloc(64, 300);
    void *freed = _mlir_memref_to_llvm_alloc(300);
    _mlir_memref_to_llvm_free(freed);
    // Freed in the run: the next allocation of the size reuses it.
    second = _mlir_memref_to_llvm_alloc(300);
    EXPECT_EQ(second, freed);
    // Over the pool's alignment: plain aligned_alloc, still tracked.
    void *wide = _mlir_memref_to_llvm_aligned_alloc(4096, 100);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(wide) % 4096, 0u);
  }
  // The scope gave back what the run left live (its results), not the
  // over-aligned block, which it freed.
  EXPECT_EQ(pool.idleBytes(), 2 * 320u);
  {
    AllocationScope scope(&pool);
    void *again = _mlir_memref_to_llvm_aligned_alloc(64, 300);
    // The next run takes one of the two blocks the last one left.
    EXPECT_TRUE(again == first || again == second);
    EXPECT_EQ(pool.idleBytes(), 320u);
  }
  EXPECT_EQ(pool.idleBytes(), 2 * 320u);
}

TEST(BufferPoolTest, NoScopeMeansPlainMalloc) {
  void *p = _mlir_memref_to_llvm_alloc(128);
  ASSERT_NE(p, nullptr);
  _mlir_memref_to_llvm_free(p);
  _mlir_memref_to_llvm_free(nullptr);
}

} // namespace
