// QueueStore::Trim: the contract's edges, what a reopen serves after a trim (with and without
// the Flush that makes it durable), recovery after trimming, the disk space given back (hole
// punching, seen in st_blocks) and the memory released.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "block_format.h"
#include "meshq/queue_store.h"
#include "metadata_store.h"
#include "open_store.h"
#include "posix_file.h"
#include "skip_or_fail.h"
#include "temp_dir.h"

namespace meshq {
namespace {

using testing::OpenStore;
using testing::TempDir;

std::string Msg(uint64_t offset, size_t len = 40) {
  std::string m = "m" + std::to_string(offset) + ":";
  while (m.size() < len) m.push_back(static_cast<char>('a' + (m.size() + offset) % 26));
  return m;
}

void PutN(QueueStore* store, const std::string& queue, uint64_t from, uint64_t n, size_t len = 40) {
  for (uint64_t i = from; i < from + n; ++i) ASSERT_TRUE(store->Put(queue, Msg(i, len)).ok());
}

// 1 KiB blocks: ~20 of the tests' messages a block, so a few hundred messages span many.
StoreOptions SmallBlocks() {
  StoreOptions o;
  o.block_size = 1024;
  return o;
}

// Reads [from, QueueSize) of `queue` and checks every message is Msg(offset).
void ExpectMessages(QueueStore* store, const std::string& queue, uint64_t from, size_t len = 40) {
  const uint64_t size = store->QueueSize(queue);
  MessageBatch batch;
  for (uint64_t at = from; at < size; at += batch.size()) {
    ASSERT_TRUE(store->Get(queue, at, 500, &batch).ok());
    ASSERT_FALSE(batch.empty()) << "at " << at;
    ASSERT_EQ(batch.first_offset(), at);
    for (size_t i = 0; i < batch.size(); ++i) ASSERT_EQ(batch[i], Msg(at + i, len));
  }
}

uint64_t AllocatedBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("segment-", 0) != 0) continue;
    struct stat st;
    if (::stat(e.path().c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

// What a kill -9 of the process holding the store in `live` leaves (everything written to the
// operating system, synced or not): its files copied to `to`, the lock file left out. Only the
// segment files when `segments_only` (over an older copy's metadata).
void CrashCopy(const std::string& live, const std::string& to, bool segments_only = false) {
  namespace fs = std::filesystem;
  fs::create_directories(to);
  for (const auto& e : fs::directory_iterator(live)) {
    const std::string name = e.path().filename().string();
    if (name == "LOCK") continue;
    if (segments_only && name.rfind("segment-", 0) != 0) continue;
    fs::copy(e.path(), to + "/" + name,
             fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  }
}

// Whether the file system under `dir` punches holes (a tmpfs, ext4 and xfs do).
bool CanPunchHoles(const std::string& dir) {
  const std::string path = dir + "/punch-probe";
  PosixFile f;
  if (!f.Open(path, /*create=*/true).ok()) return false;
  std::string data(64 << 10, 'x');
  bool unsupported = true;
  const bool ok = f.WriteAt(0, data.data(), data.size()).ok() && f.Sync().ok() &&
                  f.PunchHole(0, data.size(), &unsupported).ok() && !unsupported;
  f.Close();
  ::unlink(path.c_str());
  return ok;
}

TEST(Trim, ContractEdges) {
  TempDir tmp;
  auto store = OpenStore(tmp.path());
  PutN(store.get(), "q", 0, 100);
  EXPECT_EQ(store->QueueStart("q"), 0u);
  EXPECT_EQ(store->QueueStart("never-written"), 0u);

  Status s = store->Trim("no-such-queue", 0);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.ToString().find("no-such-queue"), std::string::npos) << s.ToString();
  s = store->Trim("q", 101);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.ToString().find("past its end 100"), std::string::npos) << s.ToString();
  EXPECT_TRUE(store->Trim("", 0).IsInvalidArgument());
  EXPECT_TRUE(store->Trim(std::string(kMaxQueueNameSize + 1, 'x'), 0).IsInvalidArgument());
  EXPECT_EQ(store->QueueStart("q"), 0u);  // failed trims change nothing

  ASSERT_TRUE(store->Trim("q", 0).ok());  // to the start: no-op
  ASSERT_TRUE(store->Trim("q", 30).ok());
  EXPECT_EQ(store->QueueStart("q"), 30u);
  EXPECT_EQ(store->QueueSize("q"), 100u);
  ASSERT_TRUE(store->Trim("q", 30).ok());  // repeated
  ASSERT_TRUE(store->Trim("q", 10).ok());  // below the start: no-op
  EXPECT_EQ(store->QueueStart("q"), 30u);

  // Get below the start returns from the first kept message, and says where it starts.
  MessageBatch batch;
  ASSERT_TRUE(store->Get("q", 0, 5, &batch).ok());
  ASSERT_EQ(batch.size(), 5u);
  EXPECT_EQ(batch.first_offset(), 30u);
  EXPECT_EQ(batch[0], Msg(30));
  ASSERT_TRUE(store->Get("q", 29, 1, &batch).ok());
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch.first_offset(), 30u);
  ASSERT_TRUE(store->Get("q", 31, 2, &batch).ok());
  EXPECT_EQ(batch.first_offset(), 31u);
  EXPECT_EQ(batch[0], Msg(31));
  ExpectMessages(store.get(), "q", 30);
  // At or past the end: empty, OK.
  ASSERT_TRUE(store->Get("q", 100, 5, &batch).ok());
  EXPECT_TRUE(batch.empty());

  // To exactly QueueSize: everything goes; the queue continues at the same offsets.
  ASSERT_TRUE(store->Trim("q", 100).ok());
  EXPECT_EQ(store->QueueStart("q"), 100u);
  EXPECT_EQ(store->QueueSize("q"), 100u);
  ASSERT_TRUE(store->Get("q", 0, 5, &batch).ok());
  EXPECT_TRUE(batch.empty());
  PutN(store.get(), "q", 100, 10);
  ASSERT_TRUE(store->Get("q", 0, 50, &batch).ok());
  ASSERT_EQ(batch.size(), 10u);
  EXPECT_EQ(batch.first_offset(), 100u);
  EXPECT_EQ(batch[0], Msg(100));

  StoreStats st = store->GetStats();
  EXPECT_EQ(st.messages, 10u);
  EXPECT_EQ(st.trimmed_messages, 100u);
  ASSERT_TRUE(store->Close().ok());
  EXPECT_TRUE(store->Trim("q", 105).IsClosed());
}

// Trims at every kind of place: inside a sealed block, at a block boundary, inside the open
// block, all of it, with Flushes in between; then a reopen serves exactly what was kept.
TEST(Trim, ReopenAfterTrimAndFlushKeepsTrimmedGone) {
  TempDir tmp;
  const std::string live = tmp.sub("live");
  const StoreOptions o = SmallBlocks();
  const std::vector<std::string> names = {"a", "b", "c", "d"};
  {
    auto store = OpenStore(live, o);
    for (const auto& n : names) PutN(store.get(), n, 0, 300);
    ASSERT_TRUE(store->Flush().ok());
    ASSERT_TRUE(store->Trim("a", 137).ok());                   // inside a block
    ASSERT_TRUE(store->Trim("b", 300).ok());                   // everything
    for (const auto& n : names) PutN(store.get(), n, 300, 7);  // 7 messages in the open block
    ASSERT_TRUE(store->Trim("c", 303).ok());                   // inside the open block
    ASSERT_TRUE(store->Trim("d", 307).ok());                   // everything, open block too
    ASSERT_TRUE(store->Flush(FlushMode::kWrite).ok());         // a trim makes it sync
    ASSERT_TRUE(store->Trim("a", 200).ok());
    ASSERT_TRUE(store->Flush().ok());
    // Killed, not closed: the checkpoint log as the Flushes left it, no compaction.
    CrashCopy(live, tmp.sub("crashed"));
  }
  const std::vector<uint64_t> start = {200, 300, 303, 307};
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "after a crash" : "after a clean close (compacted log)");
    auto store = OpenStore(tmp.sub("crashed"), o);
    const uint64_t size = 307 + 3 * round;  // round 1: after 3 more Puts each
    for (size_t i = 0; i < names.size(); ++i) {
      EXPECT_EQ(store->QueueStart(names[i]), start[i]) << names[i];
      EXPECT_EQ(store->QueueSize(names[i]), size) << names[i];
      ExpectMessages(store.get(), names[i], start[i]);
      MessageBatch batch;
      ASSERT_TRUE(store->Get(names[i], 0, 1, &batch).ok());
      if (start[i] < size) {
        ASSERT_EQ(batch.size(), 1u);
        EXPECT_EQ(batch.first_offset(), start[i]);
        EXPECT_EQ(batch[0], Msg(start[i]));
      } else {
        EXPECT_TRUE(batch.empty());
      }
    }
    // The queues continue where they were.
    for (const auto& n : names) PutN(store.get(), n, size, 3);
    ASSERT_TRUE(store->Close().ok());
  }
}

// Without the Flush, a crash brings back either the trimmed messages or not — never anything
// else: every message present is the right one, and every flushed one is still there.
TEST(Trim, CrashBeforeTheFlushMayBringTrimmedBackAndNothingElse) {
  TempDir tmp;
  const std::string live = tmp.sub("live");
  const StoreOptions o = SmallBlocks();
  {
    auto store = OpenStore(live, o);
    PutN(store.get(), "q", 0, 400);
    ASSERT_TRUE(store->Flush().ok());
    ASSERT_TRUE(store->Trim("q", 250).ok());
    PutN(store.get(), "q", 400, 5);
    // A crash before the Flush that would make the trim durable.
    CrashCopy(live, tmp.sub("crashed"));
  }
  auto store = OpenStore(tmp.sub("crashed"), o);
  const uint64_t start = store->QueueStart("q");
  EXPECT_TRUE(start == 0 || start == 250) << start;
  EXPECT_GE(store->QueueSize("q"), 400u);
  ExpectMessages(store.get(), "q", start);
  EXPECT_EQ(store->GetStats().messages, store->QueueSize("q") - start);
}

// Recovery after trimming: blocks written past the checkpoint after a trim are adopted, blocks
// below the durable start never are, and whatever recovery discards is released.
TEST(Trim, RecoveryAdoptsWhatContinuesAndNeverResurrectsTrimmed) {
  TempDir tmp;
  const std::string live = tmp.sub("live");
  const StoreOptions o = SmallBlocks();
  {
    auto store = OpenStore(live, o);
    PutN(store.get(), "q", 0, 500);
    PutN(store.get(), "r", 0, 500);
    ASSERT_TRUE(store->Flush().ok());
    ASSERT_TRUE(store->Trim("q", 480).ok());
    ASSERT_TRUE(store->Trim("r", 500).ok());
    ASSERT_TRUE(store->Flush().ok());
    PutN(store.get(), "q", 500, 200);
    PutN(store.get(), "r", 500, 200);
    ASSERT_TRUE(store->Flush(FlushMode::kWrite).ok());  // blocks past the tails, not checkpointed
    CrashCopy(live, tmp.sub("crashed"));
  }
  {
    auto store = OpenStore(tmp.sub("crashed"), o);
    StoreStats st = store->GetStats();
    EXPECT_GT(st.recovered_blocks, 0u);
    EXPECT_EQ(store->QueueStart("q"), 480u);
    EXPECT_EQ(store->QueueStart("r"), 500u);
    EXPECT_EQ(store->QueueSize("q"), 700u);
    EXPECT_EQ(store->QueueSize("r"), 700u);
    ExpectMessages(store.get(), "q", 480);
    ExpectMessages(store.get(), "r", 500);
    ASSERT_TRUE(store->Close().ok());
  }
  auto store = OpenStore(tmp.sub("crashed"), o);
  EXPECT_EQ(store->QueueStart("q"), 480u);
  ExpectMessages(store.get(), "q", 480);
  ExpectMessages(store.get(), "r", 500);
}

// The space of trimmed blocks goes back to the file system after the Flush: st_blocks falls.
TEST(Trim, TrimmedSpaceIsPunchedOutOfTheSegmentFiles) {
  TempDir tmp;
  if (!CanPunchHoles(tmp.path())) {
    MESHQ_SKIP_OR_FAIL("the file system of " + tmp.path() + " refuses hole punching");
  }
  StoreOptions o;
  o.segment_count = 4;
  o.block_size = 4096;
  auto store = OpenStore(tmp.path(), o);
  // Eight queues written round robin, so their 1-4 KiB blocks interleave and share file-system
  // blocks: released one by one, only the widening over released neighbours frees those.
  const int queues = 8;
  for (int i = 0; i < 2000; ++i) {
    for (int q = 0; q < queues; ++q) {
      ASSERT_TRUE(store->Put("q" + std::to_string(q), Msg(i, 100)).ok());
    }
    if (i % 50 == 49) {
      ASSERT_TRUE(store->Flush().ok());
    }
  }
  ASSERT_TRUE(store->Flush().ok());
  const uint64_t before = AllocatedBytes(tmp.path());
  StoreStats st = store->GetStats();
  EXPECT_EQ(st.allocated_bytes, before);
  ASSERT_GT(before, uint64_t{1} << 20);
  for (int q = 0; q < queues; ++q) {
    ASSERT_TRUE(store->Trim("q" + std::to_string(q), 1900).ok());
  }
  EXPECT_EQ(AllocatedBytes(tmp.path()), before);  // not before the trim is durable
  EXPECT_GT(store->GetStats().pending_release_blocks, 0u);
  ASSERT_TRUE(store->Flush().ok());
  const uint64_t after = AllocatedBytes(tmp.path());
  st = store->GetStats();
  EXPECT_EQ(st.pending_release_blocks, 0u);
  EXPECT_GT(st.released_blocks, 0u);
  EXPECT_EQ(st.unpunched_bytes, 0u);
  // 95% of every queue trimmed: at most the kept 5% and a file-system block per queue remain.
  EXPECT_LT(after, before / 10) << "before " << before << " after " << after;
  EXPECT_LE(st.live_bytes, after + 4096 * queues);
  for (int q = 0; q < queues; ++q) ExpectMessages(store.get(), "q" + std::to_string(q), 1900, 100);
  ASSERT_TRUE(store->Close().ok());
  store = OpenStore(tmp.path(), o);
  for (int q = 0; q < queues; ++q) ExpectMessages(store.get(), "q" + std::to_string(q), 1900, 100);
}

// Blocks recovery discards (written, never acknowledged, not continuing their queue) are
// released too.
TEST(Trim, BlocksRecoveryDiscardsArePunched) {
  TempDir tmp;
  const std::string live = tmp.sub("live");
  if (!CanPunchHoles(tmp.path())) {
    MESHQ_SKIP_OR_FAIL("the file system of " + tmp.path() + " refuses hole punching");
  }
  StoreOptions o;
  o.segment_count = 1;
  const std::string crashed = tmp.sub("crashed");
  {
    auto store = OpenStore(live, o);
    PutN(store.get(), "kept", 0, 10);
    ASSERT_TRUE(store->Flush().ok());
    CrashCopy(live, crashed);
    // Then a queue whose blocks reach the file (a kWrite Flush) and whose name never reaches a
    // durable checkpoint: the crashed copy gets the segment files, not the metadata.
    PutN(store.get(), "lost", 0, 2000, 100);
    ASSERT_TRUE(store->Flush(FlushMode::kWrite).ok());
    CrashCopy(live, crashed, /*segments_only=*/true);
  }
  const uint64_t before = AllocatedBytes(crashed);
  ASSERT_GT(before, 150000u);
  auto store = OpenStore(crashed, o);
  StoreStats st = store->GetStats();
  EXPECT_GE(st.discarded_blocks, 2000u * 100 / o.block_size);
  EXPECT_EQ(st.released_blocks, st.discarded_blocks);
  EXPECT_EQ(store->QueueSize("lost"), 0u);
  const uint64_t after = AllocatedBytes(crashed);
  EXPECT_LT(after, before / 4) << "before " << before << " after " << after;
  ExpectMessages(store.get(), "kept", 0);
}

// The memory of trimmed prefixes is released at Trim: block refs, an open block holding only
// trimmed messages, the read cache's block. A queue trimmed to its end costs what a queue just
// created costs once the Flush after the trim is done.
TEST(Trim, MemoryOfTrimmedPrefixesIsReleased) {
  TempDir tmp;
  const StoreOptions o = SmallBlocks();
  auto store = OpenStore(tmp.path(), o);
  const int queues = 20;
  for (int q = 0; q < queues; ++q) PutN(store.get(), "q" + std::to_string(q), 0, 1);
  const StoreStats fresh = store->GetStats();
  for (int q = 0; q < queues; ++q) PutN(store.get(), "q" + std::to_string(q), 1, 30000);
  ASSERT_TRUE(store->Flush().ok());
  // A forward reader leaves a cached block on each queue.
  MessageBatch batch;
  for (int q = 0; q < queues; ++q) {
    ASSERT_TRUE(store->Get("q" + std::to_string(q), 0, 3, &batch).ok());
  }
  const StoreStats full = store->GetStats();
  ASSERT_GT(full.index_bytes, fresh.index_bytes + queues * 8000);

  // Three quarters of each queue: the index gives back at least half of its block refs.
  for (int q = 0; q < queues; ++q) {
    ASSERT_TRUE(store->Trim("q" + std::to_string(q), 22500).ok());
  }
  const StoreStats part = store->GetStats();
  EXPECT_LE(part.index_bytes - fresh.index_bytes, (full.index_bytes - fresh.index_bytes) / 2);
  EXPECT_EQ(part.read_cache_bytes, 0u);

  // All of it, a few messages in the open block included.
  for (int q = 0; q < queues; ++q) {
    const std::string name = "q" + std::to_string(q);
    PutN(store.get(), name, 30001, 3);
    ASSERT_TRUE(store->Trim(name, store->QueueSize(name)).ok());
  }
  ASSERT_TRUE(store->Flush().ok());  // "a while": until the Flush after the trim completes
  const StoreStats empty = store->GetStats();
  EXPECT_EQ(empty.index_bytes, fresh.index_bytes);
  EXPECT_EQ(empty.open_block_bytes, 0u);
  EXPECT_EQ(empty.read_cache_bytes, 0u);
  EXPECT_EQ(empty.blocks, 0u);
  EXPECT_EQ(empty.messages, 0u);
  EXPECT_EQ(empty.pending_release_blocks, 0u);
}

// A store that is never closed compacts its checkpoint log at a Flush once the log has doubled:
// with its queues trimmed as they go, the log stays a few times the (small) state, where it used
// to grow by a record per Flush until a Close. A crash after it opens with exactly the state.
TEST(Trim, LongRunningStoreCompactsItsCheckpointLogOnline) {
  TempDir tmp;
  const std::string live = tmp.sub("live");
  const int queues = 2000, flushes = 60;
  {
    auto store = OpenStore(live, SmallBlocks());
    for (int f = 0; f < flushes; ++f) {
      for (int q = 0; q < queues; ++q) PutN(store.get(), "q" + std::to_string(q), f, 1, 30);
      if (f % 10 == 9) {
        // A retention pass: all but the last message of every queue.
        for (int q = 0; q < queues; ++q) ASSERT_TRUE(store->Trim("q" + std::to_string(q), f).ok());
      }
      ASSERT_TRUE(store->Flush().ok());  // a record of ~2,000 blocks entries each time
    }
    CrashCopy(live, tmp.sub("crashed"));
  }
  uint64_t log_bytes = 0;
  {
    MetadataStore meta;
    ASSERT_TRUE(meta.Open(tmp.sub("crashed") + "/meta", /*read_only=*/true).ok());
    ASSERT_TRUE(meta.Scan("c/",
                          [&](std::string_view, std::string_view v) {
                            log_bytes += v.size();
                            return Status::OK();
                          })
                    .ok());
  }
  // Uncompacted: 60 records of ~2,000 x 29 bytes, 3.5 MB.
  EXPECT_LT(log_bytes, uint64_t{2} << 20) << log_bytes;
  auto store = OpenStore(tmp.sub("crashed"), SmallBlocks());
  for (int q = 0; q < queues; q += 97) {
    const std::string name = "q" + std::to_string(q);
    EXPECT_EQ(store->QueueStart(name), 59u);
    EXPECT_EQ(store->QueueSize(name), uint64_t(flushes));
    ExpectMessages(store.get(), name, 59, 30);
  }
}

// A store of format 1 (before trims) opens, serves everything, and is marked format 2.
TEST(Trim, FormatOneStoreOpensAndBecomesFormatTwo) {
  TempDir tmp;
  {
    auto store = OpenStore(tmp.path());
    PutN(store.get(), "q", 0, 50);
    ASSERT_TRUE(store->PutMetadata("k", "v").ok());
    ASSERT_TRUE(store->Close().ok());
  }
  {
    MetadataStore meta;
    ASSERT_TRUE(meta.Open(tmp.path() + "/meta", /*read_only=*/false).ok());
    ASSERT_TRUE(meta.Put("o/format", "1", /*sync=*/true).ok());
  }
  {
    auto store = OpenStore(tmp.path());
    ExpectMessages(store.get(), "q", 0);
    ASSERT_TRUE(store->Trim("q", 10).ok());
    ASSERT_TRUE(store->Close().ok());
  }
  MetadataStore meta;
  ASSERT_TRUE(meta.Open(tmp.path() + "/meta", /*read_only=*/true).ok());
  std::string format;
  ASSERT_TRUE(meta.Get("o/format", &format).ok());
  EXPECT_EQ(format, "2");
  meta.Close();
  {
    MetadataStore w;
    ASSERT_TRUE(w.Open(tmp.path() + "/meta", /*read_only=*/false).ok());
    ASSERT_TRUE(w.Put("o/format", "3", /*sync=*/true).ok());
  }
  std::unique_ptr<QueueStore> store;
  StoreOptions o;
  o.dir = tmp.path();
  Status s = QueueStore::Open(o, &store);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.ToString().find("unsupported format version 3"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace meshq
