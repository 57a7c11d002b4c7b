// The program's memory allocator settings, applied before main() in every
// binary that links fnas_common (the CLI, the tests, the benchmarks).
//
// glibc's defaults hand large buffers back to the kernel as soon as they are
// freed (mmap'd chunks above a threshold, heap tops above M_TRIM_THRESHOLD)
// and fault them in again at the next batch: LibTorch's per-batch tensors
// then spend a large share of their time in page faults. The settings keep
// freed memory in the process: every chunk below 32 MiB (glibc's maximum
// threshold) comes from the heap and the heap is not trimmed. README.md
// (Performance) has the measurement, against jemalloc and tcmalloc too.
// FNAS_MALLOC=default in the environment keeps glibc's defaults (to compare).
#pragma once

namespace fnas {

// Whether the settings were applied at start-up.
bool AllocatorTuned();

}  // namespace fnas
