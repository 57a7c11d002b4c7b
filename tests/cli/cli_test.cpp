// Runs the factorize-nas binary as a user would.
#include "tests/testing/cli.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace {

using fnas::testing::CliResult;
using fnas::testing::RunCli;

const std::string kConfigs = std::string(FNAS_SOURCE_DIR) + "/configs/";

TEST(CliTest, SpaceCsvOfThePaperConfig) {
  CliResult r = RunCli("space " + kConfigs + "factorizenet-cifar10.yaml --format csv");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("name,factorization,macs_conv,macs_dense,params", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("regular,1.1.1.1.1.1.1.1,266010624,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("uniform-f2,2.2.2.2.2.2.2.2,153812992,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rpyr-finit2,2.2.2.4.4.4.8.8,104267776,"), std::string::npos) << r.out;
}

TEST(CliTest, SpaceTableAndJsonOfQuickstart) {
  CliResult r = RunCli("space " + kConfigs + "quickstart.yaml");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("depthwise"), std::string::npos) << r.out;
  r = RunCli("space " + kConfigs + "quickstart.yaml --format json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"name\": \"regular\""), std::string::npos) << r.out;
}

TEST(CliTest, BadConfigExitsTwoWithLocation) {
  const std::string path = ::testing::TempDir() + "/bad.yaml";
  std::ofstream(path) << "name: x\nspace:\n  paths:\n    - uniform: [3]\n";
  CliResult r = RunCli("space " + path);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(path + ":4"), std::string::npos) << r.out;
  r = RunCli("space /nonexistent.yaml");
  EXPECT_EQ(r.code, 2) << r.out;
}

TEST(CliTest, HelpVersionAndUsage) {
  CliResult r = RunCli("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("space"), std::string::npos);
  r = RunCli("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("factorize-nas"), std::string::npos);
  r = RunCli("space --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--format"), std::string::npos);
  EXPECT_EQ(RunCli("").code, 2);
  EXPECT_EQ(RunCli("nosuchcommand").code, 2);
  EXPECT_EQ(RunCli("space " + kConfigs + "quickstart.yaml --format xml").code, 2);
}

}  // namespace
