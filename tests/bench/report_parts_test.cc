// The small pure parts of reporting: the fio line, the progress line, limit ratios.
#include <gtest/gtest.h>

#include "disk_limits.h"
#include "progress_meter.h"
#include "report.h"

namespace meshq::bench {
namespace {

TEST(DiskLimits, ParsesTheScriptsLine) {
  DiskLimits l;
  ASSERT_TRUE(ParseDiskLimitsLine(
                  "MESHQ_DISK_LIMITS {\"seq_write_MBps\":201.5,\"seq_read_MBps\":250,"
                  "\"rand_read_iops\":10000,\"rand_read_MBps\":41,\"threads\":24,\"runtime_s\":3,"
                  "\"file_MiB\":1024,\"fs\":\"ext4\"}",
                  &l)
                  .ok());
  EXPECT_DOUBLE_EQ(l.seq_write_mbps, 201.5);
  EXPECT_DOUBLE_EQ(l.seq_read_mbps, 250);
  EXPECT_DOUBLE_EQ(l.rand_read_iops, 10000);
  EXPECT_EQ(l.threads, 24);
  EXPECT_EQ(l.fs, "ext4");
}

TEST(DiskLimits, RejectsOtherLines) {
  DiskLimits l;
  EXPECT_FALSE(ParseDiskLimitsLine("seq write 200 MB/s", &l).ok());
  EXPECT_FALSE(ParseDiskLimitsLine("MESHQ_DISK_LIMITS {", &l).ok());
  EXPECT_FALSE(ParseDiskLimitsLine("MESHQ_DISK_LIMITS {\"seq_write_MBps\":1}", &l).ok());
}

TEST(ProgressMeter, LineHasDoneTotalRateAndEta) {
  const std::string line = ProgressMeter::Format("send", "msgs", 2500000, 10000000, 2.0);
  EXPECT_NE(line.find("2.50M/10.00M msgs"), std::string::npos) << line;
  EXPECT_NE(line.find("25%"), std::string::npos) << line;
  EXPECT_NE(line.find("1.25M msgs/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 6s"), std::string::npos) << line;
  EXPECT_EQ(HumanCount(999), "999");
  EXPECT_EQ(HumanCount(12345), "12.3k");
}

TEST(LimitRatio, EachPhaseAgainstItsLimit) {
  DiskLimits l;
  l.seq_write_mbps = 200;
  l.seq_read_mbps = 400;
  l.rand_read_iops = 1000;
  PhaseResult p;
  p.seconds = 2;
  p.payload_bytes = 200e6;  // 100 MB/s
  p.operations = 1000;      // 500/s
  p.phase = Phase::kSend;
  EXPECT_DOUBLE_EQ(LimitRatio(p, l), 0.5);
  p.phase = Phase::kConsume;
  EXPECT_DOUBLE_EQ(LimitRatio(p, l), 0.25);
  p.phase = Phase::kCheck;
  EXPECT_DOUBLE_EQ(LimitRatio(p, l), 0.5);
}

TEST(StoreRun, ScoreIsAllMessagesOverAllSeconds) {
  StoreRun run;
  PhaseResult a, b;
  a.messages = 300;
  a.seconds = 2;
  b.messages = 100;
  b.seconds = 2;
  run.phases = {a, b};
  EXPECT_DOUBLE_EQ(run.Score(), 100);
}

}  // namespace
}  // namespace meshq::bench

namespace meshq::bench {
namespace {

StoreRun RunWith(double send_rate, double score_seconds, uint64_t mismatches) {
  StoreRun run;
  PhaseResult send, check;
  send.phase = Phase::kSend;
  send.messages = static_cast<uint64_t>(send_rate);
  send.seconds = 1;
  check.phase = Phase::kCheck;
  check.messages = 100;
  check.seconds = score_seconds;
  run.phases = {send, check};
  run.mismatches = mismatches;
  return run;
}

TEST(MedianRun, PicksTheMedianPerPhaseAndScore) {
  std::vector<StoreRun> runs = {RunWith(300, 1, 0), RunWith(100, 9, 0), RunWith(200, 4, 2)};
  const double scores[] = {runs[0].Score(), runs[1].Score(), runs[2].Score()};
  const StoreRun m = MedianRun(runs);
  ASSERT_EQ(m.phases.size(), 2u);
  EXPECT_EQ(m.phases[0].messages, 200u);     // median send rate
  EXPECT_DOUBLE_EQ(m.phases[1].seconds, 4);  // median check rate is the 4 s run
  EXPECT_DOUBLE_EQ(m.Score(), scores[2]);    // scores 400/2=200, 200/10=20, 300/5=60 -> 60
  EXPECT_EQ(m.mismatches, 2u);
  EXPECT_EQ(m.repetitions.size(), 3u);
  EXPECT_FALSE(m.ok());
}

TEST(MedianRun, OneRunIsItself) {
  const StoreRun m = MedianRun({RunWith(300, 1, 0)});
  EXPECT_TRUE(m.repetitions.empty());
  EXPECT_EQ(m.phases[0].messages, 300u);
}

}  // namespace
}  // namespace meshq::bench
