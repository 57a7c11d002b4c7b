// Which failures are the environment's (retried by resume) and which are the
// input's or the candidate's (final): issue #11, problem 2.
#include "common/error.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <new>
#include <stdexcept>
#include <system_error>

namespace fnas {
namespace {

TEST(ErrorTest, EnvironmentFailuresAreTheFileSystemsAndTheMemorys) {
  EXPECT_TRUE(IsEnvironmentFailure(EnvironmentError("x: cannot write the checkpoint")));
  EXPECT_TRUE(IsEnvironmentFailure(std::bad_alloc()));
  EXPECT_TRUE(IsEnvironmentFailure(std::system_error(ENOSPC, std::generic_category())));
  EXPECT_TRUE(IsEnvironmentFailure(std::system_error(EIO, std::system_category())));
  EXPECT_TRUE(IsEnvironmentFailure(std::filesystem::filesystem_error(
      "create_directories", std::make_error_code(std::errc::read_only_file_system))));
  // LibTorch reports allocation failures and stream errors as text only.
  EXPECT_TRUE(IsEnvironmentFailure(std::runtime_error(
      "[enforce fail at alloc_cpu.cpp:83] DefaultCPUAllocator: can't allocate memory: you tried "
      "to allocate 1099511627776 bytes")));
  EXPECT_TRUE(IsEnvironmentFailure(std::runtime_error("CUDA out of memory. Tried to allocate")));
  EXPECT_TRUE(
      IsEnvironmentFailure(RuntimeError("x.pt: cannot serialize: No space left on device")));
  EXPECT_TRUE(IsEnvironmentFailure(StoreError("s.db: database or disk is full")));
}

TEST(ErrorTest, TheCandidatesAndTheInputsFailuresAreNot) {
  EXPECT_FALSE(IsEnvironmentFailure(RuntimeError("diverged at epoch 2 (loss nan at batch 3)")));
  EXPECT_FALSE(IsEnvironmentFailure(std::runtime_error("shape mismatch")));
  EXPECT_FALSE(IsEnvironmentFailure(std::system_error(ENOENT, std::generic_category())));
  EXPECT_FALSE(IsEnvironmentFailure(std::system_error(EINVAL, std::generic_category())));
  // Bad input is bad input, whatever its message says.
  EXPECT_FALSE(IsEnvironmentFailure(DataError("images.idx: Input/output error in the header")));
  EXPECT_FALSE(IsEnvironmentFailure(ConfigError("a.yaml:3: out of memory = 1: unknown key")));
}

}  // namespace
}  // namespace fnas
