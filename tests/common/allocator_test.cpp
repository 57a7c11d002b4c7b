// The allocator settings of common/allocator.h are in force in a binary that
// links fnas_common, before main().
#include "common/allocator.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace fnas {
namespace {

TEST(Allocator, LargeBuffersComeFromTheHeapNotFromMmap) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer replaces malloc: glibc's settings do not apply";
#endif
  ASSERT_TRUE(AllocatorTuned()) << "FNAS_MALLOC=default set?";
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

}  // namespace
}  // namespace fnas
