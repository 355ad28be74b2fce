// Log: the line format (time, level, component, msg, then fields, quoted when they must be), the
// level threshold and --log-level, and whole lines from many threads at once.
#include "meshq/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "meshq/flags.h"

namespace meshq {
namespace {

// 2026-12-02T00:01:02.345Z
constexpr int64_t kSomeTimeMs = 1796169662345;

TEST(Log, LineHasTimeLevelComponentMessageAndFieldsInOrder) {
  EXPECT_EQ(FormatLogLine(kSomeTimeMs, LogLevel::kWarn, "broker", "open failed",
                          {"dir", "/tmp/x", "port", "9400"}),
            "ts=2026-12-02T00:01:02.345Z level=warn component=broker msg=\"open failed\" "
            "dir=/tmp/x port=9400");
  EXPECT_EQ(FormatLogLine(0, LogLevel::kDebug, "a", "b", {}),
            "ts=1970-01-01T00:00:00.000Z level=debug component=a msg=b");
}

TEST(Log, ValuesThatWouldBreakTheLineAreQuotedAndEscaped) {
  auto field = [](std::string_view v) {
    std::string out;
    AppendLogField("k", v, &out);
    return out;
  };
  EXPECT_EQ(field("plain"), " k=plain");
  EXPECT_EQ(field(""), " k=\"\"");
  EXPECT_EQ(field("two words"), " k=\"two words\"");
  EXPECT_EQ(field("a=b"), " k=\"a=b\"");
  EXPECT_EQ(field("say \"hi\""), " k=\"say \\\"hi\\\"\"");
  EXPECT_EQ(field("back\\slash"), " k=\"back\\\\slash\"");
  EXPECT_EQ(field("line\nbreak"), " k=\"line\\nbreak\"");
  EXPECT_EQ(field(std::string_view("\x01", 1)), " k=\"\\x01\"");
  EXPECT_EQ(field("caf\xc3\xa9"), " k=caf\xc3\xa9") << "UTF-8 is left alone";
}

TEST(Log, LevelsParseAndTheThresholdFilters) {
  LogLevel level = LogLevel::kInfo;
  EXPECT_TRUE(ParseLogLevel("debug", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_TRUE(ParseLogLevel("error", &level));
  EXPECT_EQ(level, LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("verbose", &level));
  EXPECT_FALSE(ParseLogLevel("INFO", &level));

  int fds[2];
  ASSERT_EQ(pipe2(fds, O_NONBLOCK), 0);
  SetLogDescriptor(fds[1]);
  SetLogLevel(LogLevel::kWarn);
  LogEvent(LogLevel::kInfo, "t", "dropped").Field("n", 1);
  LogEvent(LogLevel::kError, "t", "kept").Field("n", uint64_t{2}).Field("x", 0.5);
  SetLogLevel(LogLevel::kInfo);
  SetLogDescriptor(2);
  char buf[512];
  const ssize_t n = read(fds[0], buf, sizeof buf);
  close(fds[0]);
  close(fds[1]);
  ASSERT_GT(n, 0);
  const std::string out(buf, static_cast<size_t>(n));
  EXPECT_EQ(out.find("dropped"), std::string::npos) << out;
  EXPECT_NE(out.find(" level=error component=t msg=kept n=2 x=0.5\n"), std::string::npos) << out;
  EXPECT_EQ(out.rfind("ts=", 0), 0u) << out;
}

TEST(Log, TheLogLevelFlagSetsTheThresholdAndRefusesOtherWords) {
  FlagSet flags("server", "");
  DeclareLogLevelFlag(&flags);
  EXPECT_EQ(std::string(flags.Parse({"--log-level", "loud"}).message()),
            "bad --log-level 'loud': not debug, info, warn or error");
  ASSERT_TRUE(flags.Parse({"--log-level=error"}).ok());
  EXPECT_FALSE(LogEnabled(LogLevel::kWarn));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  ASSERT_TRUE(flags.Parse({"--log-level", "debug"}).ok());
  EXPECT_TRUE(LogEnabled(LogLevel::kDebug));
  SetLogLevel(LogLevel::kInfo);
  EXPECT_NE(flags.Usage().find("--log-level debug|info|warn|error"), std::string::npos);
}

TEST(Log, LinesOfManyThreadsNeverInterleave) {
  char path[] = "/tmp/meshq-log-test-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  SetLogDescriptor(fd);
  constexpr int kThreads = 8, kLines = 500;
  const std::string padding(200, 'p');
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &padding] {
      for (int i = 0; i < kLines; ++i) {
        LogEvent(LogLevel::kInfo, "thread", "line")
            .Field("t", t)
            .Field("i", i)
            .Field("pad", padding);
      }
    });
  }
  for (auto& th : threads) th.join();
  SetLogDescriptor(2);
  std::string all;
  lseek(fd, 0, SEEK_SET);
  char buf[65536];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) all.append(buf, static_cast<size_t>(n));
  close(fd);
  std::istringstream lines(all);
  std::set<std::string> seen;
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    const size_t t = line.find(" t="), pad = line.find(" pad=");
    ASSERT_NE(t, std::string::npos) << line;
    ASSERT_NE(pad, std::string::npos) << line;
    EXPECT_EQ(line.substr(pad + 5), padding) << "a whole line: " << line;
    EXPECT_TRUE(seen.insert(line.substr(t, pad - t)).second) << line;
  }
  EXPECT_EQ(count, kThreads * kLines);
}

}  // namespace
}  // namespace meshq
