// A test hook for the kill-and-resume torture test
// (tests/search/torture_cli_test.cpp, docs/reliability.md): CrashPoint(name)
// kills this process with SIGKILL the N-th time it is reached when the
// environment sets FNAS_CRASH_AT=name and FNAS_CRASH_AFTER=N (default 1), so
// that a test can stop a real search exactly inside a phase (mid-epoch, while
// a checkpoint is written, inside a database transaction, during calibration,
// at a rung, between trials). Without FNAS_CRASH_AT it costs one load of a
// cached pointer. Thread-safe.
#pragma once

namespace fnas {

void CrashPoint(const char* name);

}  // namespace fnas
