// Process and filesystem figures: sizes on disk, free space, memory, tmpfs detection; and the
// cache dropper evicting a file it can see.
#include "process_stats.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cache_dropper.h"
#include "skip_or_fail.h"
#include "temp_dir.h"

namespace meshq::bench {
namespace {

TEST(ProcessStats, DirectoryDiskBytesCountsFilesBelow) {
  TempDir dir;
  EXPECT_EQ(DirectoryDiskBytes(dir.path()), 0u);
  std::filesystem::create_directories(dir.path() + "/a/b");
  {
    std::ofstream out(dir.path() + "/a/b/f");
    out << std::string(100000, 'x');
  }
  EXPECT_GE(DirectoryDiskBytes(dir.path()), 100000u);
  EXPECT_EQ(DirectoryDiskBytes(dir.path() + "/missing"), 0u);
}

TEST(ProcessStats, FreeSpaceOfAPathNotYetCreated) {
  TempDir dir;
  EXPECT_GT(FreeDiskBytes(dir.path() + "/not/yet/there"), 0u);
  EXPECT_EQ(FreeDiskBytes(dir.path() + "/not/yet/there"), FreeDiskBytes(dir.path()));
}

TEST(ProcessStats, PeakRssSeesAnAllocation) {
  ResetPeakRss();
  std::vector<char> big(64u << 20, 1);
  EXPECT_GE(PeakRssBytes(), 64u << 20);
  EXPECT_GT(big[12345], 0);
}

TEST(ProcessStats, MemoryFilesystemDetected) {
  if (!std::filesystem::exists("/dev/shm")) MESHQ_SKIP_OR_FAIL("no /dev/shm");
  EXPECT_TRUE(IsMemoryFilesystem("/dev/shm"));
  EXPECT_FALSE(IsMemoryFilesystem("/proc"));
}

TEST(CacheDropper, SaysHowItDropped) {
  TempDir dir;
  {
    std::ofstream out(dir.path() + "/f");
    out << "data";
  }
  const std::string how = DropCaches(dir.path());
  EXPECT_TRUE(how == "drop_caches" || how.rfind("fadvise(", 0) == 0) << how;
}

}  // namespace
}  // namespace meshq::bench
