// FlagSet: both value spellings, type and range checks that name the flag, unknown flags
// refused, switches, positional arguments, and a usage text that lists every default.
#include "meshq/flags.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace meshq {
namespace {

struct Program {
  std::string dir = "/data";
  int port = 9400;
  uint64_t messages = 1000;
  double ratio = 0.5;
  bool verbose = false;
  std::string mode = "direct";
  FlagSet flags{"prog", "A test program."};

  Program() {
    flags.String("dir", &dir, "where the data goes", "DIR");
    flags.Int("port", &port, 0, 65535, "TCP port");
    flags.Count("messages", &messages, uint64_t{1}, uint64_t{1} << 40, "messages to send");
    flags.Double("ratio", &ratio, 0, 1, "a fraction");
    flags.Bool("verbose", &verbose, "say more");
    flags.Custom(
        "mode", "direct|mq", mode,
        [this](std::string_view v) {
          if (v != "direct" && v != "mq") return Status::InvalidArgument("direct or mq");
          mode = v;
          return Status::OK();
        },
        "how calls travel");
  }
  Status Parse(std::vector<std::string> args) { return flags.Parse(args); }
};

TEST(Flags, DefaultsStayWhenNotGiven) {
  Program p;
  ASSERT_TRUE(p.Parse({}).ok());
  EXPECT_EQ(p.dir, "/data");
  EXPECT_EQ(p.port, 9400);
  EXPECT_FALSE(p.verbose);
  EXPECT_FALSE(p.flags.given("port"));
  EXPECT_FALSE(p.flags.help());
}

TEST(Flags, SpaceAndEqualsSpellingsBothWork) {
  Program p;
  ASSERT_TRUE(p.Parse({"--dir", "/x", "--port=81", "--messages=2.5M", "--ratio", "0.25",
                       "--mode=mq", "--verbose"})
                  .ok());
  EXPECT_EQ(p.dir, "/x");
  EXPECT_EQ(p.port, 81);
  EXPECT_EQ(p.messages, 2500000u);
  EXPECT_EQ(p.ratio, 0.25);
  EXPECT_EQ(p.mode, "mq");
  EXPECT_TRUE(p.verbose);
  EXPECT_TRUE(p.flags.given("port"));
  EXPECT_FALSE(p.flags.given("help"));
  // A value may itself start with dashes or contain '='; the last occurrence wins.
  ASSERT_TRUE(p.Parse({"--dir", "--odd", "--dir=a=b"}).ok());
  EXPECT_EQ(p.dir, "a=b");
  ASSERT_TRUE(p.Parse({"--dir="}).ok());
  EXPECT_EQ(p.dir, "");
}

TEST(Flags, NumbersAreCheckedForTypeAndRange) {
  auto error = [](std::vector<std::string> args) {
    Program p;
    const int port_before = p.port;
    Status s = p.Parse(args);
    EXPECT_TRUE(s.IsInvalidArgument()) << args[0];
    EXPECT_EQ(p.port, port_before) << "a bad value is never stored";
    return std::string(s.message());
  };
  EXPECT_EQ(error({"--port", "abc"}), "bad --port 'abc': not a whole number");
  EXPECT_EQ(error({"--port", "70000"}), "bad --port '70000': out of range 0..65535");
  EXPECT_EQ(error({"--port=-1"}), "bad --port '-1': out of range 0..65535");
  EXPECT_EQ(error({"--port", ""}), "bad --port '': not a whole number");
  EXPECT_EQ(error({"--port", "1e3"}), "bad --port '1e3': not a whole number");
  EXPECT_EQ(error({"--port", "80x"}), "bad --port '80x': not a whole number");
  EXPECT_EQ(error({"--port", "99999999999999999999"}),
            "bad --port '99999999999999999999': out of range 0..65535");
  EXPECT_NE(error({"--messages", "0"}).find("out of range"), std::string::npos);
  EXPECT_NE(error({"--messages", "2T"}).find("not a count"), std::string::npos);
  EXPECT_NE(error({"--messages", "-1k"}).find("--messages"), std::string::npos);
  EXPECT_NE(error({"--messages", "2e12"}).find("out of range"), std::string::npos);
  EXPECT_NE(error({"--ratio", "1.5"}).find("out of range"), std::string::npos);
  EXPECT_NE(error({"--ratio", "nan"}).find("--ratio"), std::string::npos);
  EXPECT_EQ(error({"--mode", "carrier-pigeon"}), "bad --mode 'carrier-pigeon': direct or mq");
  EXPECT_EQ(error({"--verbose=maybe"}), "bad --verbose 'maybe': not true, false, 1 or 0");
}

TEST(Flags, CountsTakeSuffixesAndExponents) {
  Program p;
  ASSERT_TRUE(p.Parse({"--messages", "10k"}).ok());
  EXPECT_EQ(p.messages, 10000u);
  ASSERT_TRUE(p.Parse({"--messages", "1e6"}).ok());
  EXPECT_EQ(p.messages, 1000000u);
  ASSERT_TRUE(p.Parse({"--messages", "3G"}).ok());
  EXPECT_EQ(p.messages, 3000000000u);
  ASSERT_TRUE(p.Parse({"--messages", "18"}).ok());
  EXPECT_EQ(p.messages, 18u);
}

TEST(Flags, UnknownMissingAndStrayArgumentsAreRefused) {
  Program p;
  EXPECT_EQ(std::string(p.Parse({"--bogus", "1"}).message()), "unknown flag --bogus");
  EXPECT_EQ(std::string(p.Parse({"--bogus=1"}).message()), "unknown flag --bogus");
  EXPECT_EQ(std::string(p.Parse({"-x"}).message()), "unknown flag -x");
  EXPECT_EQ(std::string(p.Parse({"--port"}).message()), "missing value for --port");
  EXPECT_EQ(std::string(p.Parse({"stray"}).message()), "unexpected argument 'stray'");
  EXPECT_EQ(std::string(p.Parse({"--", "stray"}).message()), "unexpected argument 'stray'");
}

TEST(Flags, SwitchesNeverTakeTheNextArgument) {
  Program p;
  EXPECT_FALSE(p.Parse({"--verbose", "false"}).ok()) << "'false' is a stray argument here";
  ASSERT_TRUE(p.Parse({"--verbose=false"}).ok());
  EXPECT_FALSE(p.verbose);
  ASSERT_TRUE(p.Parse({"--verbose=1"}).ok());
  EXPECT_TRUE(p.verbose);
}

TEST(Flags, PositionalArgumentsWhenDeclared) {
  Program p;
  std::vector<std::string> words;
  p.flags.Positional(&words);
  ASSERT_TRUE(p.Parse({"dir", "--port", "1", "queue", "-", "--", "--not-a-flag"}).ok());
  EXPECT_EQ(words, (std::vector<std::string>{"dir", "queue", "-", "--not-a-flag"}));
  EXPECT_EQ(p.port, 1);
}

TEST(Flags, HelpStopsParsingAndTheUsageListsEveryDefault) {
  Program p;
  ASSERT_TRUE(p.Parse({"--port", "1", "--help", "--bogus"}).ok());
  EXPECT_TRUE(p.flags.help());
  Program q;
  ASSERT_TRUE(q.Parse({"-h"}).ok());
  EXPECT_TRUE(q.flags.help());

  const std::string usage = Program().flags.Usage();
  EXPECT_EQ(usage.rfind("usage: prog [flags]\nA test program.\n", 0), 0u) << usage;
  for (const char* line : {"  --dir DIR                   where the data goes (default /data)\n",
                           "  --port N                    TCP port [0..65535] (default 9400)\n",
                           "  --ratio X                   a fraction [0..1] (default 0.5)\n",
                           "  --verbose                   say more (default false)\n",
                           "  --mode direct|mq            how calls travel (default direct)\n",
                           "  --help                      this text\n"}) {
    EXPECT_NE(usage.find(line), std::string::npos) << line << "in:\n" << usage;
  }
}

TEST(Flags, LongNamesAndMultiLineHelpStayAligned) {
  std::string v;
  FlagSet flags("p", "");
  flags.String("a-rather-long-flag-name", &v, "first line\nsecond line", "VALUE");
  EXPECT_NE(flags.Usage().find("  --a-rather-long-flag-name VALUE\n" + std::string(30, ' ') +
                               "first line\n" + std::string(30, ' ') + "second line\n"),
            std::string::npos)
      << flags.Usage();
}

}  // namespace
}  // namespace meshq
