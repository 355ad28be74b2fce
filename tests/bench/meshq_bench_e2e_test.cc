// meshq-bench end to end: the smoke profile passes with every phase in its JSON; a damaged
// answer (each kind) makes it fail with exit status 1; too little disk is refused up front.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "temp_dir.h"

namespace meshq::bench {
namespace {

struct Outcome {
  int exit_status = -1;
  std::string output;  // stdout and stderr
};

Outcome RunBench(const std::string& args, const TempDir& dir) {
  const std::string log = dir.path() + "/out.log";
  const std::string command =
      std::string("timeout 90 ") + MESHQ_BENCH_BINARY + " " + args + " > " + log + " 2>&1";
  const int rc = std::system(command.c_str());
  Outcome out;
  out.exit_status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  out.output = ss.str();
  return out;
}

boost::json::object ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return boost::json::parse(ss.str()).as_object();
}

class MeshqBenchE2E : public ::testing::TestWithParam<const char*> {};

TEST_P(MeshqBenchE2E, SmokeProfilePassesWithAllPhases) {
  TempDir dir;
  const std::string json = dir.path() + "/result.json";
  const Outcome out = RunBench(std::string("--profile smoke --store ") + GetParam() + " --dir " +
                                   dir.path() + "/data --json " + json,
                               dir);
  ASSERT_EQ(out.exit_status, 0) << out.output;
  const boost::json::object root = ReadJson(json);
  EXPECT_EQ(root.at("profile").as_string(), "smoke");
  const boost::json::array& runs = root.at("runs").as_array();
  ASSERT_EQ(runs.size(), 1u);
  const boost::json::object& run = runs[0].as_object();
  EXPECT_EQ(run.at("store").as_string(), GetParam());
  EXPECT_TRUE(run.at("ok").as_bool());
  EXPECT_EQ(run.at("mismatches").as_int64(), 0);
  const boost::json::array& phases = run.at("phases").as_array();
  ASSERT_EQ(phases.size(), 3u);
  const char* names[] = {"send", "check", "consume"};
  for (size_t i = 0; i < 3; ++i) {
    const boost::json::object& p = phases[i].as_object();
    EXPECT_EQ(p.at("phase").as_string(), names[i]);
    EXPECT_GT(p.at("messages").as_int64(), 0) << names[i];
    EXPECT_GT(p.at("seconds").as_double(), 0) << names[i];
    EXPECT_TRUE(p.contains("latency_ns"));
    EXPECT_TRUE(p.contains("peak_rss_bytes"));
    EXPECT_TRUE(p.contains("disk_write_bytes"));
  }
  EXPECT_EQ(phases[0].as_object().at("messages").as_int64(), root.at("messages").as_int64());
  EXPECT_GT(run.at("score").as_double(), 0);
  // The table on stdout, and the data removed without --keep.
  EXPECT_NE(out.output.find("score"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/data"));
}

INSTANTIATE_TEST_SUITE_P(Stores, MeshqBenchE2E, ::testing::Values("meshq", "rocksdb"));

class MeshqBenchFault : public ::testing::TestWithParam<const char*> {};

TEST_P(MeshqBenchFault, DamagedAnswerFailsTheRun) {
  TempDir dir;
  const Outcome out = RunBench(std::string("--queues 300 --messages 30000 --inject-fault ") +
                                   GetParam() + " --dir " + dir.path() + "/data",
                               dir);
  EXPECT_EQ(out.exit_status, 1) << out.output;
  EXPECT_NE(out.output.find("MISMATCH: queue"), std::string::npos) << out.output;
  EXPECT_NE(out.output.find(std::string("fault injected on purpose: ") + GetParam()),
            std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Faults, MeshqBenchFault,
                         ::testing::Values("flip", "truncate", "swap", "drop"));

TEST(MeshqBench, KeptStoreCanBeReadByALaterRun) {
  TempDir dir;
  const std::string common = "--queues 200 --messages 20000 --dir " + dir.path() + "/data";
  ASSERT_EQ(RunBench(common + " --phases send --keep", dir).exit_status, 0);
  const Outcome out = RunBench(common + " --phases check,consume --drop-caches --keep", dir);
  EXPECT_EQ(out.exit_status, 0) << out.output;
  EXPECT_NE(out.output.find("consume"), std::string::npos);
  // A kept store is not overwritten by another send.
  EXPECT_EQ(RunBench(common + " --phases send", dir).exit_status, 2);
}

TEST(MeshqBench, RefusesWhenTheDiskIsTooSmall) {
  TempDir dir;
  const Outcome out = RunBench("--queues 1000 --messages 200G --dir " + dir.path() + "/data", dir);
  EXPECT_EQ(out.exit_status, 2) << out.output;
  EXPECT_NE(out.output.find("refusing to start"), std::string::npos) << out.output;
  EXPECT_NE(out.output.find("needs about"), std::string::npos);
}

TEST(MeshqBench, BadFlagIsUsageError) {
  TempDir dir;
  const Outcome out = RunBench("--phases nope", dir);
  EXPECT_EQ(out.exit_status, 2);
  EXPECT_NE(out.output.find("nope"), std::string::npos);
}

}  // namespace
}  // namespace meshq::bench
