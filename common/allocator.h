// The program's memory allocator, settled before main() in every binary that
// links fnas_common (the CLI, the tests, the benchmarks).
//
// glibc's malloc hands large freed buffers back to the kernel (mmap'd chunks,
// heap tops, and whole heaps of the per-thread arenas that worker threads
// use) and LibTorch faults them in again at the next batch: a search's
// workers then spend a large share of their time in page faults. So the build
// links tcmalloc (gperftools' libtcmalloc_minimal, CMake option
// FNAS_ALLOCATOR, on when the library is found and no sanitizer is on), which
// keeps freed memory in per-thread caches. Where glibc's malloc is in use
// (a build without tcmalloc, a sanitizer build), mallopt keeps every chunk
// below 32 MiB in the heap and never trims it: that cures the main thread,
// not the worker arenas. FNAS_MALLOC=default in the environment skips the
// mallopt settings (to compare). README.md (Performance) has the measurements.
#pragma once

namespace fnas {

// "tcmalloc" when tcmalloc serves malloc in this process, "glibc-tuned" when
// glibc's malloc runs with the settings above, "glibc" when it runs with its
// defaults (FNAS_MALLOC=default, or mallopt refused them).
const char* AllocatorName();

}  // namespace fnas
