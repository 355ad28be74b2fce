// AssignmentLog: records come back in order after a reopen, across the switch between its two
// files (at least the last `capacity` are kept), and a record cut by a crash ends the replay
// without losing the ones before it; appends then continue after the last whole record.
#include "assignment_log.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace meshq::bridge {
namespace {

class AssignmentLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/assignment-log-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::vector<JournalRecord> Reopen(size_t capacity, std::unique_ptr<AssignmentLog>* log) {
    std::vector<JournalRecord> replay;
    log->reset();
    EXPECT_TRUE(AssignmentLog::Open(dir_, capacity, log, &replay).ok());
    return replay;
  }
  static JournalRecord Assign(uint64_t id, uint64_t member) {
    return {JournalKind::kAssignment, id, 0, {}, member};
  }
  std::string dir_;
};

TEST_F(AssignmentLogTest, RecordsComeBackInOrderAcrossTheSwitch) {
  std::unique_ptr<AssignmentLog> log;
  EXPECT_TRUE(Reopen(4, &log).empty());
  for (uint64_t id = 1; id <= 10; ++id) {
    ASSERT_TRUE(log->Append({Assign(id, 100 + id)}).ok());
  }
  ASSERT_TRUE(log->Append({{JournalKind::kRelease, 10, 0, {}, 110}}).ok());
  std::vector<JournalRecord> got = Reopen(4, &log);
  // The last capacity (4) records at least, oldest first, ending with the release.
  ASSERT_GE(got.size(), 4u);
  for (size_t i = 1; i < got.size(); ++i) EXPECT_LE(got[i - 1].id, got[i].id);
  EXPECT_EQ(got.back().kind, JournalKind::kRelease);
  EXPECT_EQ(got.back().id, 10u);
  EXPECT_EQ(got[got.size() - 2].id, 10u);
  EXPECT_EQ(got[got.size() - 2].member, 110u);
  // Appending after a reopen continues the same log.
  ASSERT_TRUE(log->Append({Assign(11, 111)}).ok());
  got = Reopen(4, &log);
  EXPECT_EQ(got.back().id, 11u);
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/assignments.0").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u) << "readable by others";
}

TEST_F(AssignmentLogTest, ACutRecordEndsTheReplayAndIsOverwritten) {
  std::unique_ptr<AssignmentLog> log;
  Reopen(100, &log);
  ASSERT_TRUE(log->Append({Assign(1, 7), Assign(2, 7)}).ok());
  log.reset();
  // A crash cut the third record after 5 of its 17 bytes.
  const std::string path = dir_ + "/assignments.0";
  {
    FILE* f = fopen(path.c_str(), "ab");
    ASSERT_NE(f, nullptr);
    fwrite("\x03\x01\x02\x03\x04", 1, 5, f);
    fclose(f);
  }
  std::vector<JournalRecord> got = Reopen(100, &log);
  ASSERT_EQ(got.size(), 2u);
  ASSERT_TRUE(log->Append({Assign(3, 8)}).ok());
  got = Reopen(100, &log);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].id, 3u);
  EXPECT_EQ(got[2].member, 8u);
}

}  // namespace
}  // namespace meshq::bridge
