// The auditor's chain-heads file (`meshq audit --verify --heads FILE`): its pure parser and
// formatter, and its atomic replacement.
#include "chain_heads.h"

#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "stored_message.h"

namespace meshq::bridge {
namespace {

ChainHead Head(uint64_t offset, char fill) {
  return ChainHead{offset, std::string(kChainDigestSize, fill)};
}

TEST(ChainHeads, FormatThenParseGivesTheSameHeads) {
  ChainHeads heads;
  heads["rpc.req.svc"] = Head(20, '\x01');
  heads["rpc.rep.cli-t0"] = Head(0, '\xfe');
  heads["a queue with spaces"] = Head(7, '\0');
  ChainHeads back;
  ASSERT_TRUE(ParseChainHeads(FormatChainHeads(heads), &back).ok());
  ASSERT_EQ(back.size(), 3u);
  for (const auto& [q, h] : heads) {
    ASSERT_EQ(back.count(q), 1u) << q;
    EXPECT_EQ(back[q].offset, h.offset);
    EXPECT_EQ(back[q].digest, h.digest);
  }
  EXPECT_NE(FormatChainHeads(heads).find("rpc.req.svc 20 0101"), std::string::npos);
}

TEST(ChainHeads, CommentsAndEmptyLinesAreSkipped) {
  ChainHeads heads;
  ASSERT_TRUE(ParseChainHeads("", &heads).ok());
  EXPECT_TRUE(heads.empty());
  const std::string digest(64, 'a');
  ASSERT_TRUE(ParseChainHeads("# heads\n\nq 3 " + digest + "\n", &heads).ok());
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads["q"].offset, 3u);
  EXPECT_EQ(heads["q"].digest, std::string(kChainDigestSize, '\xaa'));
}

TEST(ChainHeads, AMalformedLineIsRefusedNamingIt) {
  const std::string digest(64, '0');
  const std::pair<std::string, std::string> cases[] = {
      {"q\n", "line 1"},
      {"q 3\n", "line 1"},
      {"# ok\nq x " + digest + "\n", "line 2: bad offset 'x'"},
      {"q -1 " + digest + "\n", "bad offset"},
      {"q 99999999999999999999 " + digest + "\n", "bad offset"},
      {"q 3 " + digest.substr(2) + "\n", "hex digits"},
      {"q 3 " + std::string(64, 'G') + "\n", "hex digits"},
      {"q 3 " + std::string(64, 'A') + "\n", "hex digits"},  // lower case only, as written
      {"q 3 " + digest + "\nq 4 " + digest + "\n", "line 2: queue 'q' named twice"},
      {" 3 " + digest + "\n", "line 1"},
  };
  for (const auto& [text, want] : cases) {
    ChainHeads heads;
    Status s = ParseChainHeads(text, &heads);
    EXPECT_TRUE(s.IsInvalidArgument()) << text;
    EXPECT_NE(s.ToString().find(want), std::string::npos) << text << " -> " << s.ToString();
  }
}

TEST(ChainHeads, SaveReplacesTheFileAndLoadReadsIt) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("heads-" + std::to_string(getpid()))).string();
  ChainHeads heads;
  EXPECT_TRUE(LoadChainHeads(path, &heads).IsNotFound());
  heads["q"] = Head(5, 'x');
  ASSERT_TRUE(SaveChainHeads(path, heads).ok());
  heads["q"] = Head(6, 'y');
  ASSERT_TRUE(SaveChainHeads(path, heads).ok());
  ChainHeads back;
  ASSERT_TRUE(LoadChainHeads(path, &back).ok());
  EXPECT_EQ(back["q"].offset, 6u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::filesystem::remove(path);
  EXPECT_TRUE(SaveChainHeads("/nonexistent-dir/heads", heads).IsIOError());
}

}  // namespace
}  // namespace meshq::bridge
