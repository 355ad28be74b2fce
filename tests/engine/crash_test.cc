// Crash durability: a child process puts and flushes, is killed with SIGKILL, and the parent
// reopens the store: everything acknowledged by Flush is served, nothing corrupt is returned.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "io_mode.h"
#include "meshq/queue_store.h"
#include "temp_dir.h"

namespace meshq {
namespace {

using testing::TempDir;

std::string Content(int q, uint64_t offset) {
  std::string m = "q" + std::to_string(q) + "-o" + std::to_string(offset) + "-";
  m.append(30 + (offset * 7 + q) % 40, static_cast<char>('a' + (q + offset) % 26));
  return m;
}

// How the writer child flushes.
enum class Flushes { kSync, kWrite, kMixed /* kWrite, every fourth kSync */ };

// Child: reopens the store and appends to `queues` queues forever, message content derived from
// the queue and its offset; after each Flush it writes to `fd` how many rounds that Flush covered.
[[noreturn]] void Writer(const std::string& dir, int queues, int fd, Flushes flushes,
                         bool direct_io) {
  StoreOptions o;
  o.dir = dir;
  o.direct_io = direct_io;
  std::unique_ptr<QueueStore> store;
  if (!QueueStore::Open(o, &store).ok()) _exit(3);
  std::vector<uint64_t> base(queues);
  for (int q = 0; q < queues; ++q) base[q] = store->QueueSize("q" + std::to_string(q));
  for (uint64_t round = 0;; ++round) {
    for (int q = 0; q < queues; ++q) {
      if (!store->Put("q" + std::to_string(q), Content(q, base[q] + round)).ok()) _exit(4);
    }
    if (round % 50 == 49) {
      const bool sync =
          flushes == Flushes::kSync || (flushes == Flushes::kMixed && round % 200 == 199);
      if (!store->Flush(sync ? FlushMode::kSync : FlushMode::kWrite).ok()) _exit(5);
      uint64_t acked = round + 1;
      if (write(fd, &acked, sizeof(acked)) != sizeof(acked)) _exit(6);
    }
  }
}

// Runs a writer child, lets it acknowledge `flushes` Flushes, kills it `delay` later, and returns
// the number of rounds the last completed Flush acknowledged.
uint64_t RunAndKill(const std::string& dir, int queues, int flushes,
                    std::chrono::milliseconds delay, Flushes mode, bool direct_io) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Writer(dir, queues, fds[1], mode, direct_io);
  }
  close(fds[1]);
  uint64_t acked = 0, v = 0;
  for (int i = 0; i < flushes; ++i) {
    if (read(fds[0], &v, sizeof(v)) != static_cast<ssize_t>(sizeof(v))) break;
    acked = v;
  }
  std::this_thread::sleep_for(delay);
  kill(pid, SIGKILL);
  // A Flush that completed before the kill may still be in the pipe.
  while (read(fds[0], &v, sizeof(v)) == static_cast<ssize_t>(sizeof(v))) acked = v;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status)) << "writer exited early with status " << WEXITSTATUS(status);
  return acked;
}

// Each run adds queues, so queues are also created between a kill and the next one (a kWrite
// Flush catalogues them without syncing).
void KillNineLosesNothingAcknowledged(Flushes mode, bool direct_io) {
  TempDir tmp;
  const int max_queues = 260;
  std::vector<uint64_t> size_before(max_queues, 0);
  for (int iteration = 0; iteration < 4; ++iteration) {
    const int queues = 200 + 20 * iteration;
    const uint64_t acked = RunAndKill(tmp.path(), queues, 2 + iteration,
                                      std::chrono::milliseconds(5 * iteration), mode, direct_io);
    ASSERT_GT(acked, 0u);
    StoreOptions o;
    o.dir = tmp.path();
    o.direct_io = direct_io;
    std::unique_ptr<QueueStore> store;
    Status s = QueueStore::Open(o, &store);
    ASSERT_TRUE(s.ok()) << s.ToString();
    MessageBatch batch;
    for (int q = 0; q < queues; ++q) {
      const std::string name = "q" + std::to_string(q);
      const uint64_t size = store->QueueSize(name);
      // Everything acknowledged is there; whatever else survived is exact and in order.
      ASSERT_GE(size, size_before[q] + acked) << name << " iteration " << iteration;
      for (uint64_t pos = 0; pos < size;) {
        s = store->Get(name, pos, 500, &batch);
        ASSERT_TRUE(s.ok()) << s.ToString();
        ASSERT_FALSE(batch.empty());
        for (size_t i = 0; i < batch.size(); ++i) {
          ASSERT_EQ(batch[i], Content(q, pos + i)) << name << " offset " << pos + i;
        }
        pos += batch.size();
      }
      size_before[q] = size;
    }
  }
}

// Every crash test runs in both I/O modes: buffered, and direct (StoreOptions::direct_io).
class Crash : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(IoModes, Crash, ::testing::Bool(), testing::IoModeName);

TEST_P(Crash, KillNineAfterFlushLosesNothingAcknowledged) {
  KillNineLosesNothingAcknowledged(Flushes::kSync, GetParam());
}

TEST_P(Crash, KillNineAfterWriteFlushLosesNothingAcknowledged) {
  KillNineLosesNothingAcknowledged(Flushes::kWrite, GetParam());
}

TEST_P(Crash, KillNineWithWriteAndSyncFlushesMixedLosesNothingAcknowledged) {
  KillNineLosesNothingAcknowledged(Flushes::kMixed, GetParam());
}

// A machine crash after kWrite Flushes: what only they wrote may not have reached the disk. The
// store's directory is copied while it is open (what a crash leaves), the copy's segment files
// are cut back to their sizes at the last kSync Flush, and the copy opens with exactly the synced
// messages, including the queues only a kWrite Flush catalogued (empty then).
TEST_P(Crash, MachineCrashAfterWriteFlushesKeepsTheSyncedPrefix) {
  namespace fs = std::filesystem;
  TempDir tmp;
  StoreOptions o;
  o.dir = tmp.sub("live");
  o.direct_io = GetParam();
  std::unique_ptr<QueueStore> store;
  ASSERT_TRUE(QueueStore::Open(o, &store).ok());
  const int queues = 50;
  for (uint64_t i = 0; i < 300; ++i) {
    for (int q = 0; q < queues; ++q)
      ASSERT_TRUE(store->Put("q" + std::to_string(q), Content(q, i)).ok());
  }
  ASSERT_TRUE(store->Flush(FlushMode::kSync).ok());
  std::map<std::string, uintmax_t> synced_sizes;
  for (const auto& e : fs::directory_iterator(o.dir)) {
    if (e.is_regular_file() && e.path().filename() != "LOCK")
      synced_sizes[e.path().filename()] = e.file_size();
  }
  for (int round = 0; round < 3; ++round) {
    for (uint64_t i = 0; i < 200; ++i) {
      for (int q = 0; q < queues + 10; ++q) {
        const std::string name = "q" + std::to_string(q);
        ASSERT_TRUE(store->Put(name, Content(q, store->QueueSize(name))).ok());
      }
    }
    ASSERT_TRUE(store->Flush(FlushMode::kWrite).ok());
  }
  const std::string crashed = tmp.sub("crashed");
  fs::copy(o.dir, crashed, fs::copy_options::recursive);
  uintmax_t cut = 0;
  for (const auto& [name, size] : synced_sizes) {
    cut += fs::file_size(crashed + "/" + name) - size;
    fs::resize_file(crashed + "/" + name, size);
  }
  ASSERT_GT(cut, 100000u) << "the kWrite Flushes wrote nothing to the segment files";
  fs::remove(crashed + "/LOCK");

  StoreOptions co;
  co.dir = crashed;
  co.direct_io = GetParam();
  std::unique_ptr<QueueStore> recovered;
  Status s = QueueStore::Open(co, &recovered);
  ASSERT_TRUE(s.ok()) << s.ToString();
  MessageBatch batch;
  for (int q = 0; q < queues + 10; ++q) {
    const std::string name = "q" + std::to_string(q);
    const uint64_t size = recovered->QueueSize(name);
    ASSERT_EQ(size, q < queues ? 300u : 0u) << name;
    for (uint64_t pos = 0; pos < size; pos += batch.size()) {
      s = recovered->Get(name, pos, 500, &batch);
      ASSERT_TRUE(s.ok()) << s.ToString();
      ASSERT_FALSE(batch.empty());
      for (size_t i = 0; i < batch.size(); ++i) ASSERT_EQ(batch[i], Content(q, pos + i));
    }
  }
  // Writes go on after recovery, and the live store still has everything.
  ASSERT_TRUE(recovered->Put("q0", Content(0, 300)).ok());
  ASSERT_TRUE(recovered->Flush().ok());
  EXPECT_EQ(store->QueueSize("q0"), 900u);
  EXPECT_EQ(store->QueueSize("q55"), 600u);
}

}  // namespace
}  // namespace meshq
