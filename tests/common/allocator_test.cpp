// The allocator of common/allocator.h is in force in a binary that links
// fnas_common, before main(): tcmalloc where the build linked it, glibc's
// malloc with its thresholds raised otherwise.
#include "common/allocator.h"

#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace fnas {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizer = true;
#else
constexpr bool kSanitizer = false;
#endif

TEST(Allocator, TheBuildsChoiceServesMalloc) {
  if (kSanitizer) GTEST_SKIP() << "the sanitizer replaces malloc";
#ifdef FNAS_WITH_TCMALLOC
  EXPECT_STREQ(AllocatorName(), "tcmalloc");
#else
  EXPECT_STREQ(AllocatorName(), "glibc-tuned") << "FNAS_MALLOC=default set?";
#endif
}

TEST(Allocator, LargeBuffersComeFromTheHeapNotFromMmap) {
  if (std::strcmp(AllocatorName(), "glibc-tuned") != 0) {
    GTEST_SKIP() << "glibc's mallopt settings are not in use (" << AllocatorName() << ")";
  }
  // glibc's default threshold (128 KiB, growing with use) would mmap 8 MiB.
  const size_t n = size_t{8} << 20;
  const struct mallinfo2 before = mallinfo2();
  void* p = std::malloc(n);
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, n);
  const struct mallinfo2 during = mallinfo2();
  EXPECT_EQ(during.hblks, before.hblks);
  EXPECT_EQ(during.hblkhd, before.hblkhd);
  std::free(p);
  // Freed, it stays in the process: the heap is not trimmed.
  const struct mallinfo2 after = mallinfo2();
  EXPECT_GE(after.arena, during.arena);
}

// Minor page faults of the calling thread so far.
long ThreadFaults() {
  struct rusage u;
  getrusage(RUSAGE_THREAD, &u);
  return u.ru_minflt;
}

// What a search worker does at every batch: a thread other than main allocates
// buffers of a few MiB to tens of MiB, writes them and frees them. With glibc,
// the worker's arena gives whole heaps and mmap'd chunks back to the kernel and
// every round faults its pages in again; the build's allocator must keep them.
TEST(Allocator, AWorkerThreadReusesFreedBuffersWithoutFaultingThemInAgain) {
  if (kSanitizer) GTEST_SKIP() << "the sanitizer replaces malloc";
  if (std::strcmp(AllocatorName(), "tcmalloc") != 0) {
    GTEST_SKIP() << "only tcmalloc keeps a worker thread's memory (" << AllocatorName() << ")";
  }
  const std::vector<size_t> sizes = {size_t{1} << 20, size_t{6} << 20, size_t{24} << 20,
                                     size_t{40} << 20, size_t{3} << 20};
  size_t round_pages = 0;
  for (size_t s : sizes) round_pages += s / 4096;
  long first = 0, later = 0;
  std::thread worker([&] {
    auto round = [&] {
      std::vector<void*> held;
      for (size_t s : sizes) {
        void* p = std::malloc(s);
        ASSERT_NE(p, nullptr);
        std::memset(p, 1, s);
        held.push_back(p);
      }
      for (void* p : held) std::free(p);
    };
    long t0 = ThreadFaults();
    round();
    first = ThreadFaults() - t0;
    t0 = ThreadFaults();
    for (int i = 0; i < 20; ++i) round();
    later = ThreadFaults() - t0;
  });
  worker.join();
  // The first round faults every page in; twenty more may fault a tenth of one
  // round in all (glibc's arenas fault about every page again, every round).
  EXPECT_GE(first, static_cast<long>(round_pages) / 2);
  EXPECT_LT(later, static_cast<long>(round_pages) / 10)
      << "first round " << first << " faults, 20 later rounds " << later;
}

}  // namespace
}  // namespace fnas
