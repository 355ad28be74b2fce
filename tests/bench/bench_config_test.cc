// BenchConfig: profiles set the scale, flags override it in any order, bad input is named.
#include "bench_config.h"

#include <gtest/gtest.h>

namespace meshq::bench {
namespace {

Status Parse(std::vector<std::string> args, BenchConfig* config) {
  return ParseBenchConfig(args, config);
}

TEST(BenchConfig, DefaultsAreTheDefaultProfile) {
  BenchConfig c;
  ASSERT_TRUE(Parse({}, &c).ok());
  EXPECT_EQ(c.profile, "default");
  EXPECT_EQ(c.workload.queues, 100000u);
  EXPECT_EQ(c.threads, 24);
  EXPECT_EQ(c.min_size, 40u);
  EXPECT_EQ(c.max_size, 60u);
  EXPECT_TRUE(c.send && c.check && c.consume);
  EXPECT_EQ(c.stores, std::vector<StoreKind>{StoreKind::kMeshq});
  EXPECT_FALSE(c.limits || c.keep || c.drop_caches);
}

TEST(BenchConfig, ProfilesSetScale) {
  BenchConfig c;
  ASSERT_TRUE(Parse({"--profile", "large"}, &c).ok());
  EXPECT_EQ(c.workload.queues, 1000000u);
  EXPECT_EQ(c.workload.messages, 200000000u);
  ASSERT_TRUE(Parse({"--profile", "contest"}, &c).ok());
  EXPECT_EQ(c.workload.messages, 2000000000u);
  ASSERT_TRUE(Parse({"--profile", "smoke"}, &c).ok());
  EXPECT_LT(c.workload.messages, 1000000u);
}

TEST(BenchConfig, FlagsOverrideTheProfileWhateverTheOrder) {
  BenchConfig c;
  ASSERT_TRUE(Parse({"--queues",
                     "5000",
                     "--profile",
                     "large",
                     "--messages",
                     "2.5M",
                     "--threads",
                     "8",
                     "--min-size",
                     "10",
                     "--max-size",
                     "20",
                     "--seed",
                     "9",
                     "--phases",
                     "send,consume",
                     "--store",
                     "meshq,rocksdb",
                     "--dir",
                     "/x",
                     "--json",
                     "f.json",
                     "--drop-caches",
                     "--limits",
                     "--keep",
                     "--consume-batch",
                     "100",
                     "--repeat",
                     "3"},
                    &c)
                  .ok());
  EXPECT_EQ(c.profile, "custom");  // the scale is no longer the large profile's
  EXPECT_EQ(c.workload.queues, 5000u);
  EXPECT_EQ(c.workload.messages, 2500000u);
  EXPECT_EQ(c.threads, 8);
  EXPECT_EQ(c.min_size, 10u);
  EXPECT_EQ(c.max_size, 20u);
  EXPECT_EQ(c.seed, 9u);
  EXPECT_TRUE(c.send && !c.check && c.consume);
  EXPECT_EQ(c.stores, (std::vector<StoreKind>{StoreKind::kMeshq, StoreKind::kRocksdb}));
  EXPECT_EQ(c.dir, "/x");
  EXPECT_EQ(c.json_path, "f.json");
  EXPECT_TRUE(c.drop_caches && c.limits && c.keep);
  EXPECT_EQ(c.workload.consume_batch, 100u);
  EXPECT_EQ(c.repeat, 3);
}

TEST(BenchConfig, NumbersAcceptSuffixesAndExponents) {
  BenchConfig c;
  ASSERT_TRUE(Parse({"--messages", "1e6", "--queues", "10k"}, &c).ok());
  EXPECT_EQ(c.workload.messages, 1000000u);
  EXPECT_EQ(c.workload.queues, 10000u);
}

TEST(BenchConfig, BadInputIsNamed) {
  BenchConfig c;
  auto error = [&](std::vector<std::string> args) {
    BenchConfig fresh;
    Status s = Parse(args, &fresh);
    EXPECT_TRUE(s.IsInvalidArgument()) << args[0];
    return std::string(s.message());
  };
  EXPECT_NE(error({"--profile", "huge"}).find("huge"), std::string::npos);
  EXPECT_NE(error({"--queues", "x"}).find("--queues"), std::string::npos);
  EXPECT_NE(error({"--queues", "0"}).find("out of range"), std::string::npos);
  EXPECT_NE(error({"--threads", "-1"}).find("--threads"), std::string::npos);
  EXPECT_NE(error({"--phases", "send,read"}).find("read"), std::string::npos);
  EXPECT_NE(error({"--store", "leveldb"}).find("leveldb"), std::string::npos);
  EXPECT_NE(error({"--min-size", "61"}).find("--max-size"), std::string::npos);
  EXPECT_NE(error({"--bogus"}).find("--bogus"), std::string::npos);
  EXPECT_NE(error({"--seed"}).find("missing value"), std::string::npos);
  EXPECT_NE(error({"--inject-fault", "melt"}).find("melt"), std::string::npos);
  EXPECT_NE(error({"--queues", "1", "--messages", "5G"}).find("per queue"), std::string::npos);
}

TEST(BenchConfig, HelpIsAskedForAndListsTheDefaults) {
  BenchConfig c;
  ASSERT_TRUE(Parse({"--threads", "3", "--help"}, &c).ok());
  EXPECT_TRUE(c.help);
  const std::string usage = BenchUsage();
  for (const char* text : {"--profile P", "(default default)", "--queues N", "(default 100000)",
                           "--messages N", "(default 30000000)", "--threads N", "(default 24)",
                           "--store LIST", "(default meshq)", "--keep", "--inject-fault K"}) {
    EXPECT_NE(usage.find(text), std::string::npos) << text << " in:\n" << usage;
  }
}

TEST(BenchConfig, ValuesMayFollowAnEqualsSign) {
  BenchConfig c;
  ASSERT_TRUE(Parse({"--profile=smoke", "--threads=4", "--keep=true"}, &c).ok());
  EXPECT_EQ(c.profile, "smoke");
  EXPECT_EQ(c.threads, 4);
  EXPECT_TRUE(c.keep);
}

TEST(BenchConfig, DiskEstimateGrowsWithMessagesAndRocksdbNeedsMore) {
  BenchConfig small, big;
  ASSERT_TRUE(Parse({"--profile", "smoke"}, &small).ok());
  ASSERT_TRUE(Parse({"--profile", "contest"}, &big).ok());
  EXPECT_LT(EstimateDiskBytes(small, StoreKind::kMeshq), EstimateDiskBytes(big, StoreKind::kMeshq));
  // 2e9 messages of ~50 bytes are 100 GB before any overhead.
  EXPECT_GT(EstimateDiskBytes(big, StoreKind::kMeshq), 100e9);
  EXPECT_GT(EstimateDiskBytes(big, StoreKind::kRocksdb), EstimateDiskBytes(big, StoreKind::kMeshq));
}

}  // namespace
}  // namespace meshq::bench
