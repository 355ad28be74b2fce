// Flusher: chunks written by a flusher thread (Submit) or by the caller (WriteNow) are retired
// the same way — written, out of the in-flight table, waited for — and a write that fails is
// reported to whoever waits for it instead of being waited for forever.
#include "flusher.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "segment.h"
#include "skip_or_fail.h"
#include "temp_dir.h"

namespace meshq {
namespace {

// A 1 KiB chunk at `base` of `seg`, filled with `fill`; `buf` must outlive it.
std::shared_ptr<WriteChunk> MakeChunk(Segment* seg, uint64_t base, char* buf, char fill) {
  std::memset(buf, fill, 1024);
  auto chunk = std::make_shared<WriteChunk>();
  chunk->segment = seg;
  chunk->base = base;
  chunk->capacity = 1024;
  chunk->reserved = 1024;
  chunk->used = 1024;
  chunk->data = buf;
  seg->AddInFlight(chunk);
  return chunk;
}

TEST(Flusher, ChunksWrittenHereAndByTheThreadsAreBothDurableAndRetired) {
  testing::TempDir dir;
  Segment seg(0, dir.path() + "/seg");
  ASSERT_TRUE(seg.Open().ok());
  alignas(4096) static char a[1024], b[1024];
  Flusher flusher(1, 1 << 20);
  flusher.Submit(MakeChunk(&seg, 0, a, 'a'));
  flusher.WriteNow(MakeChunk(&seg, 1024, b, 'b'));
  ASSERT_TRUE(flusher.WaitWritten(flusher.next_seq()).ok());
  EXPECT_EQ(flusher.pending_bytes(), 0u);
  EXPECT_FALSE(flusher.has_error());
  char got[2048];
  size_t n = 0;
  ASSERT_TRUE(seg.file().ReadAt(0, sizeof(got), got, &n).ok());
  ASSERT_EQ(n, sizeof(got));
  EXPECT_EQ(std::string(got, 1024), std::string(1024, 'a'));
  EXPECT_EQ(std::string(got + 1024, 1024), std::string(1024, 'b'));
}

TEST(Flusher, AFailedWriteIsReportedNotWaitedForWhoeverWroteIt) {
  if (!std::filesystem::exists("/dev/full")) MESHQ_SKIP_OR_FAIL("no /dev/full");
  Segment full(0, "/dev/full");  // every write fails with ENOSPC
  ASSERT_TRUE(full.Open().ok());
  alignas(4096) static char a[1024], b[1024];
  Flusher flusher(1, 1 << 20);
  flusher.WriteNow(MakeChunk(&full, 0, a, 'a'));
  Status s = flusher.WaitWritten(flusher.next_seq());
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_TRUE(flusher.has_error());
  flusher.Submit(MakeChunk(&full, 1024, b, 'b'));
  s = flusher.WaitWritten(flusher.next_seq());
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  // Both stay staged (still readable from memory, retried later), none is lost.
  EXPECT_EQ(flusher.pending_bytes(), 2048u);
  flusher.Stop();
}

}  // namespace
}  // namespace meshq
