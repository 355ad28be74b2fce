// InfoLog: RocksDB's info log as the engine writes it — lines appended with a timestamp, only at
// the chosen level and above, rotated to .old by size, owner-only.
#include "info_log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "temp_dir.h"

namespace meshq {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(InfoLog, WritesLinesAtItsLevelAndAboveOwnerOnly) {
  testing::TempDir tmp;
  const std::string path = tmp.sub("LOG");
  {
    InfoLog log(path, 1 << 20, rocksdb::InfoLogLevel::WARN_LEVEL);
    rocksdb::Log(rocksdb::InfoLogLevel::INFO_LEVEL, &log, "dropped %d", 1);
    rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, &log, "kept %d", 2);
    rocksdb::Log(rocksdb::InfoLogLevel::ERROR_LEVEL, &log, "kept %s", "three");
    rocksdb::Log(rocksdb::InfoLogLevel::HEADER_LEVEL, &log, "header dropped");
  }
  const std::string text = ReadAll(path);
  EXPECT_EQ(text.find("dropped"), std::string::npos) << text;
  EXPECT_NE(text.find("[WARN] kept 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[ERROR] kept three\n"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(InfoLog, AppendsAcrossOpensAndRotatesPastItsSize) {
  testing::TempDir tmp;
  const std::string path = tmp.sub("LOG");
  {
    InfoLog log(path, 4096, rocksdb::InfoLogLevel::WARN_LEVEL);
    rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, &log, "first open");
  }
  InfoLog log(path, 4096, rocksdb::InfoLogLevel::WARN_LEVEL);
  EXPECT_NE(ReadAll(path).find("first open"), std::string::npos);
  const std::string long_line(300, 'x');
  for (int i = 0; i < 40; ++i) {
    rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, &log, "%d %s", i, long_line.c_str());
  }
  ASSERT_TRUE(std::filesystem::exists(path + ".old"));
  // Each file stops at the first line past the limit; the newest line is in the current one.
  EXPECT_LT(std::filesystem::file_size(path), 4096u + 400u);
  EXPECT_LT(std::filesystem::file_size(path + ".old"), 4096u + 400u);
  EXPECT_NE(ReadAll(path).find("39 xxx"), std::string::npos);
  EXPECT_EQ(ReadAll(path).find("first open"), std::string::npos);
}

TEST(InfoLog, CutsALineLongerThanItsBufferAndEndsItWithANewline) {
  testing::TempDir tmp;
  const std::string path = tmp.sub("LOG");
  {
    InfoLog log(path, 1 << 20, rocksdb::InfoLogLevel::WARN_LEVEL);
    const std::string huge(5000, 'y');
    rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, &log, "%s", huge.c_str());
    rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, &log, "after");
  }
  const std::string text = ReadAll(path);
  ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text.size();
  EXPECT_LT(text.size(), 1100u);
  EXPECT_NE(text.find("] after\n"), std::string::npos);
}

}  // namespace
}  // namespace meshq
