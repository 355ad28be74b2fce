// Disk faults: a full file system and a read-only one. The store must report clear IOErrors,
// keep every accepted message readable and intact, and recover by itself once space returns.
// Faults come from a real small tmpfs (we run as root); where mounting is not permitted the
// full-disk test falls back to RLIMIT_FSIZE (writes past the limit fail with EFBIG) and says so;
// the others have no fallback and skip only for an unprivileged developer (skip_or_fail.h).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "meshq/queue_store.h"
#include "message_pattern.h"
#include "skip_or_fail.h"
#include "temp_dir.h"

namespace meshq {
namespace {

using testing::PatternMessage;
using testing::PatternQueueName;
using Clock = std::chrono::steady_clock;

// A tmpfs of `size` mounted on a fresh directory (or on `at`) for the test's lifetime. A test with
// a fallback for an unmounted tmpfs passes `has_fallback`: MESHQ_TEST_NO_MOUNT then exercises it.
class Tmpfs {
 public:
  explicit Tmpfs(const char* size, std::string at = "", bool has_fallback = false)
      : at_(std::move(at)) {
    if (has_fallback && getenv("MESHQ_TEST_NO_MOUNT") != nullptr) {
      error_ = "MESHQ_TEST_NO_MOUNT is set";
      return;
    }
    std::string opts = std::string("size=") + size;
    mounted_ = ::mount("tmpfs", path().c_str(), "tmpfs", 0, opts.c_str()) == 0;
    if (!mounted_) error_ = std::strerror(errno);
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(path().c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::string& path() const { return at_.empty() ? tmp_.path() : at_; }
  std::string sub(const std::string& name) const { return path() + "/" + name; }
  bool Remount(bool read_only) {
    unsigned long flags = MS_REMOUNT | (read_only ? MS_RDONLY : 0);
    return ::mount("tmpfs", path().c_str(), "tmpfs", flags, nullptr) == 0;
  }

 private:
  testing::TempDir tmp_;
  std::string at_;
  bool mounted_ = false;
  std::string error_;
};

// Takes the free space away and gives it back: on the tmpfs by filling it with a file, without
// one by lowering RLIMIT_FSIZE below the files' sizes.
class SpaceThief {
 public:
  explicit SpaceThief(const Tmpfs* fs) : fs_(fs) {}
  const char* method() const {
    return fs_->mounted() ? "8 MiB tmpfs filled up (ENOSPC)" : "RLIMIT_FSIZE (EFBIG)";
  }
  void Take() {
    if (fs_->mounted()) {
      std::FILE* f = std::fopen(fs_->sub("filler").c_str(), "wb");
      ASSERT_NE(f, nullptr);
      std::string mib(1 << 16, 'f');
      while (std::fwrite(mib.data(), 1, mib.size(), f) == mib.size()) {
      }
      std::fclose(f);
    } else {
      ::signal(SIGXFSZ, SIG_IGN);
      rlimit lim{};
      getrlimit(RLIMIT_FSIZE, &saved_);
      lim.rlim_cur = 1 << 20;  // every segment is past this once Take is called
      lim.rlim_max = saved_.rlim_max;
      setrlimit(RLIMIT_FSIZE, &lim);
    }
  }
  void GiveBack() {
    if (fs_->mounted()) {
      std::filesystem::remove(fs_->sub("filler"));
    } else {
      setrlimit(RLIMIT_FSIZE, &saved_);
    }
  }

 private:
  const Tmpfs* fs_;
  rlimit saved_{};
};

StoreOptions SmallStore(const std::string& dir) {
  StoreOptions o;
  o.dir = dir;
  o.segment_count = 4;
  o.write_chunk_size = 64 * 1024;
  o.max_pending_bytes = 1u << 20;
  return o;
}

constexpr uint32_t kQueues = 16;

// Checks that queue q holds exactly messages [0, n) of the pattern.
void ExpectQueue(QueueStore* store, uint32_t q, uint64_t n) {
  MessageBatch batch;
  uint64_t off = 0;
  while (off < n) {
    Status s = store->Get(PatternQueueName(q), off, 100, &batch);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_FALSE(batch.empty()) << "queue " << q << " ends at " << off << ", want " << n;
    for (size_t i = 0; i < batch.size(); ++i, ++off) {
      ASSERT_EQ(batch[i], PatternMessage(q, off)) << "queue " << q << " offset " << off;
    }
  }
  EXPECT_EQ(store->QueueSize(PatternQueueName(q)), n);
}

// Opens the store in `dir`, puts messages [0, rounds) of the pattern into every queue, closes.
void PutRoundsAndClose(const std::string& dir, uint64_t rounds) {
  std::unique_ptr<QueueStore> store;
  ASSERT_TRUE(QueueStore::Open(SmallStore(dir), &store).ok());
  for (uint64_t off = 0; off < rounds; ++off) {
    for (uint32_t q = 0; q < kQueues; ++q) {
      ASSERT_TRUE(store->Put(PatternQueueName(q), PatternMessage(q, off)).ok());
    }
  }
  ASSERT_TRUE(store->Close().ok());
}

TEST(DiskFault, FullDiskGivesIOErrorsKeepsDataAndRecovers) {
  Tmpfs fs("8m", "", /*has_fallback=*/true);
  // When a tmpfs cannot be mounted, the limit falls on the process's file size instead.
  testing::TempDir fallback;
  const std::string dir = fs.mounted() ? fs.sub("store") : fallback.sub("store");
  SpaceThief thief(&fs);
  std::printf("disk fault: full disk via %s%s\n", thief.method(),
              fs.mounted() ? "" : (" (mount failed: " + fs.error() + ")").c_str());

  std::unique_ptr<QueueStore> store;
  ASSERT_TRUE(QueueStore::Open(SmallStore(dir), &store).ok());
  std::vector<uint64_t> count(kQueues, 0);
  auto put = [&](uint32_t q) {
    Status s = store->Put(PatternQueueName(q), PatternMessage(q, count[q]));
    if (s.ok()) count[q]++;
    return s;
  };
  // Acknowledged data before the fault; with the RLIMIT fallback, enough that every segment is
  // past its 1 MiB limit.
  const int before = fs.mounted() ? 20000 : 80000;
  for (int i = 0; i < before; ++i) ASSERT_TRUE(put(i % kQueues).ok());
  ASSERT_TRUE(store->Flush().ok());
  const std::vector<uint64_t> durable = count;

  thief.Take();
  // Keep putting until the store refuses: accepted Puts stay readable, refusals are IOErrors.
  Status refused;
  uint64_t accepted = 0, refusals = 0, flush_failures = 0;
  const auto give_up = Clock::now() + std::chrono::seconds(20);
  while (refused.ok() && Clock::now() < give_up) {
    for (int i = 0; i < 2000 && refused.ok(); ++i) {
      Status s = put(static_cast<uint32_t>(i % kQueues));
      if (s.ok()) {
        ++accepted;
      } else {
        ++refusals;
        refused = s;
      }
    }
    if (refused.ok()) {
      Status f = store->Flush();
      if (!f.ok()) {
        ++flush_failures;
        EXPECT_TRUE(f.IsIOError()) << f.ToString();
        refused = f;
      }
    }
  }
  ASSERT_FALSE(refused.ok()) << "the store accepted everything on a full disk";
  EXPECT_TRUE(refused.IsIOError()) << refused.ToString();
  const std::string text = refused.ToString();
  EXPECT_TRUE(text.find("No space left") != std::string::npos ||
              text.find("too large") != std::string::npos)
      << text;
  // While writes fail: Put refuses fast, Flush reports the error, accepted data is readable.
  const auto t0 = Clock::now();
  for (int i = 0; i < 100; ++i) {
    Status s = put(static_cast<uint32_t>(i % kQueues));
    if (!s.ok()) {
      EXPECT_TRUE(s.IsIOError()) << s.ToString();
      ++refusals;
    }
  }
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2)) << "Puts on a full disk must fail fast";
  Status f = store->Flush();
  EXPECT_TRUE(f.IsIOError()) << f.ToString();
  if (!f.ok()) ++flush_failures;
  for (uint32_t q = 0; q < kQueues; ++q) ExpectQueue(store.get(), q, count[q]);

  // Space returns: the background retry lets Puts through again and Flush succeeds.
  thief.GiveBack();
  const auto t1 = Clock::now();
  Status recovered = Status::IOError("not yet");
  while (!recovered.ok() && Clock::now() - t1 < std::chrono::seconds(10)) {
    recovered = store->Flush();
    if (!recovered.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(recovered.ok()) << "no recovery after space returned: " << recovered.ToString();
  Status again = Status::IOError("not yet");
  while (!again.ok() && Clock::now() - t1 < std::chrono::seconds(10)) {
    again = put(0);
    if (!again.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(again.ok()) << again.ToString();
  const double recover_ms = std::chrono::duration<double, std::milli>(Clock::now() - t1).count();
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(put(static_cast<uint32_t>(i % kQueues)).ok());
  ASSERT_TRUE(store->Close().ok());

  // Everything accepted — before, during and after the fault — survives a reopen intact.
  ASSERT_TRUE(QueueStore::Open(SmallStore(dir), &store).ok());
  for (uint32_t q = 0; q < kQueues; ++q) {
    ASSERT_GE(count[q], durable[q]);
    ExpectQueue(store.get(), q, count[q]);
  }
  ASSERT_TRUE(store->Close().ok());
  std::printf(
      "disk fault: %llu Puts accepted while filling the disk, then %llu Puts and %llu Flushes "
      "refused with IOError (\"%s\"); recovered %.0f ms after space returned\n",
      static_cast<unsigned long long>(accepted), static_cast<unsigned long long>(refusals),
      static_cast<unsigned long long>(flush_failures), text.c_str(), recover_ms);
}

// The metadata database (dir/meta) alone runs out of space: segment writes succeed but the
// checkpoint cannot be written. Flush must report it, and succeed again once space returns.
//
// A full metadata file system: RocksDB fails its WAL append with ENOSPC and keeps a sticky
// background error; the engine's MetadataStore reopens the database before its next write, so
// Flush recovers once space returns (it used to fail until the store was reopened, and Debian's
// assert-enabled librocksdb could abort on the second write to the failed WAL).
TEST(DiskFault, FullMetadataDiskGivesIOErrorAndRecovers) {
  testing::TempDir tmp;
  const std::string dir = tmp.sub("store");
  std::filesystem::create_directories(dir + "/meta");
  Tmpfs meta_fs("1m", dir + "/meta");
  if (!meta_fs.mounted()) MESHQ_SKIP_OR_FAIL("cannot mount a tmpfs (" << meta_fs.error() << ")");
  std::unique_ptr<QueueStore> store;
  ASSERT_TRUE(QueueStore::Open(SmallStore(dir), &store).ok());
  std::vector<uint64_t> count(kQueues, 0);
  auto put_round = [&] {
    for (uint32_t q = 0; q < kQueues; ++q) {
      Status s = store->Put(PatternQueueName(q), PatternMessage(q, count[q]));
      ASSERT_TRUE(s.ok()) << s.ToString();
      count[q]++;
    }
  };
  for (int i = 0; i < 100; ++i) put_round();
  ASSERT_TRUE(store->Flush().ok());

  SpaceThief thief(&meta_fs);
  thief.Take();
  Status f;
  for (int i = 0; i < 50 && f.ok(); ++i) {
    put_round();
    f = store->Flush();
  }
  ASSERT_FALSE(f.ok()) << "Flush succeeded with a full metadata file system";
  EXPECT_TRUE(f.IsIOError()) << f.ToString();
  std::printf("disk fault: full metadata file system: \"%s\"\n", f.ToString().c_str());
  for (uint32_t q = 0; q < kQueues; ++q) ExpectQueue(store.get(), q, count[q]);

  thief.GiveBack();
  const auto t0 = Clock::now();
  Status recovered = Status::IOError("not yet");
  while (!recovered.ok() && Clock::now() - t0 < std::chrono::seconds(10)) {
    recovered = store->Flush();
    if (!recovered.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(recovered.ok()) << "Flush still fails 10 s after metadata space returned: "
                              << recovered.ToString();
  put_round();
  Status closed = store->Close();
  EXPECT_TRUE(closed.ok()) << closed.ToString();
  store.reset();
  // Whatever Flush acknowledged before the fault, and all after recovery, must be intact.
  ASSERT_TRUE(QueueStore::Open(SmallStore(dir), &store).ok());
  for (uint32_t q = 0; q < kQueues; ++q) {
    if (recovered.ok() && closed.ok()) {
      ExpectQueue(store.get(), q, count[q]);
    } else {
      EXPECT_GE(store->QueueSize(PatternQueueName(q)), 100u);
    }
  }
  ASSERT_TRUE(store->Close().ok());
}

// What a Flush failed to checkpoint, the next Flush checkpoints even when nothing was written in
// between: a Flush visits only the queues written since the last one and those a Flush left
// dirty, and a failed one leaves every queue it took dirty. Checked the hard way: the process
// ends right after the second Flush's acknowledgement without closing the store (as a kill -9
// would), and everything must be there when the store is opened again.
TEST(DiskFault, AFlushAfterAFailedOneCheckpointsWhatTheFailedOneCollected) {
  testing::TempDir tmp;
  const std::string dir = tmp.sub("store");
  std::filesystem::create_directories(dir + "/meta");
  Tmpfs meta_fs("1m", dir + "/meta");
  if (!meta_fs.mounted()) MESHQ_SKIP_OR_FAIL("cannot mount a tmpfs (" << meta_fs.error() << ")");
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // only async-signal-safe exits from here: no gtest assertions
    ::close(fds[0]);
    std::unique_ptr<QueueStore> store;
    if (!QueueStore::Open(SmallStore(dir), &store).ok()) _exit(3);
    uint32_t rounds = 0;
    auto put_round = [&] {
      for (uint32_t q = 0; q < kQueues; ++q) {
        if (!store->Put(PatternQueueName(q), PatternMessage(q, rounds)).ok()) _exit(4);
      }
      ++rounds;
    };
    for (int i = 0; i < 100; ++i) put_round();
    if (!store->Flush().ok()) _exit(5);
    SpaceThief thief(&meta_fs);
    thief.Take();
    bool failed = false;
    for (int i = 0; i < 50 && !failed; ++i) {
      put_round();
      failed = !store->Flush().ok();
    }
    if (!failed) _exit(6);
    thief.GiveBack();
    const auto t0 = Clock::now();
    while (!store->Flush().ok()) {
      if (Clock::now() - t0 > std::chrono::seconds(10)) _exit(7);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (::write(fds[1], &rounds, sizeof(rounds)) != sizeof(rounds)) _exit(8);
    _exit(0);
  }
  ::close(fds[1]);
  uint32_t rounds = 0;
  const ssize_t got = ::read(fds[0], &rounds, sizeof(rounds));
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "child failed at step " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  ASSERT_EQ(got, static_cast<ssize_t>(sizeof(rounds)));
  std::unique_ptr<QueueStore> store;
  ASSERT_TRUE(QueueStore::Open(SmallStore(dir), &store).ok());
  for (uint32_t q = 0; q < kQueues; ++q) ExpectQueue(store.get(), q, rounds);
  ASSERT_TRUE(store->Close().ok());
}

// Child-side check (no gtest in a forked child): queue q holds exactly messages [0, n).
bool QueueHolds(QueueStore* store, uint32_t q, uint64_t n) {
  MessageBatch batch;
  uint64_t off = 0;
  while (off < n) {
    if (!store->Get(PatternQueueName(q), off, 100, &batch).ok() || batch.empty()) return false;
    for (size_t i = 0; i < batch.size(); ++i, ++off) {
      if (off < n && batch[i] != PatternMessage(q, off)) return false;
    }
  }
  return true;
}

// What one Open in a forked child did: how it ended (a signal when it aborted), its Status text,
// and whether every acknowledged message was there.
struct OpenOutcome {
  int wait_status = 0;
  std::string status;
  bool opened() const { return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0; }
  bool failed_cleanly() const { return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 1; }
  std::string Describe() const {
    if (WIFSIGNALED(wait_status)) {
      return "killed by signal " + std::to_string(WTERMSIG(wait_status)) + " (" +
             strsignal(WTERMSIG(wait_status)) + ")";
    }
    return "exit " + std::to_string(WEXITSTATUS(wait_status)) + ": " + status;
  }
};

// Opens the store in a child process (an abort inside the library must not take the test down)
// and, when Open succeeds, checks that every queue holds its `acked` messages. Exit 0: opened and
// complete; 1: Open failed (the Status text goes up the pipe); 2: messages missing.
OpenOutcome OpenInChild(const std::string& dir, const std::vector<uint64_t>& acked) {
  int fds[2];
  OpenOutcome out;
  if (::pipe(fds) != 0) return out;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::unique_ptr<QueueStore> store;
    Status s = QueueStore::Open(SmallStore(dir), &store);
    const std::string text = s.ToString();
    if (::write(fds[1], text.data(), text.size()) < 0) _exit(3);
    if (!s.ok()) _exit(1);
    for (uint32_t q = 0; q < acked.size(); ++q) {
      if (!QueueHolds(store.get(), q, acked[q])) _exit(2);
    }
    // Writes on the full disk fail (or, in what room Open left, succeed); neither may abort.
    for (uint32_t q = 0; q < acked.size(); ++q) {
      (void)store->Put(PatternQueueName(q), PatternMessage(q, acked[q]));
    }
    (void)store->Flush();
    _exit(0);  // no Close: the next Open sees the state this one left, as after a kill
  }
  ::close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) out.status.append(buf, n);
  ::close(fds[0]);
  ::waitpid(pid, &out.wait_status, 0);
  return out;
}

// A store killed (SIGKILL) while its disk is full must open again, not abort: a supervisor would
// crash-loop on it until space returned. A forked writer fills a small file system through the
// store, keeps putting and flushing while writes fail (as a broker under load would), and is
// killed; then Open (in a child) must either serve every acknowledged message or fail with a
// clear IOError naming the directory; once space is freed it must open with all of them.
TEST(DiskFault, StoreKilledOnAFullDiskOpensAgain) {
  Tmpfs fs("8m");
  if (!fs.mounted()) MESHQ_SKIP_OR_FAIL("cannot mount a tmpfs (" << fs.error() << ")");
  const std::string dir = fs.sub("store");
  {  // someone else's file on the same file system: deleting it is how space returns
    std::ofstream other(fs.sub("other"), std::ios::binary);
    std::string mib(1 << 20, 'o');
    for (int i = 0; i < 2; ++i) other.write(mib.data(), static_cast<std::streamsize>(mib.size()));
  }
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // the writer: reports each Flush-acknowledged state, then "failing" ones
    ::close(fds[0]);
    std::unique_ptr<QueueStore> store;
    if (!QueueStore::Open(SmallStore(dir), &store).ok()) _exit(3);
    // Record: [0] = failed Flushes so far, [1..] = per-queue counts the last good Flush covered.
    std::vector<uint64_t> rec(1 + kQueues, 0), count(kQueues, 0);
    for (;;) {
      for (int i = 0; i < 500; ++i) {
        const uint32_t q = static_cast<uint32_t>(i % kQueues);
        if (store->Put(PatternQueueName(q), PatternMessage(q, count[q])).ok()) count[q]++;
      }
      if (store->Flush().ok()) {
        std::copy(count.begin(), count.end(), rec.begin() + 1);
      } else {
        rec[0]++;
      }
      const size_t bytes = rec.size() * sizeof(uint64_t);
      if (::write(fds[1], rec.data(), bytes) != static_cast<ssize_t>(bytes)) _exit(4);
    }
  }
  ::close(fds[1]);
  std::vector<uint64_t> rec(1 + kQueues, 0);
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  // Killed after a run of failed Flushes: the writer keeps hitting the full disk meanwhile.
  while (rec[0] < 50 && Clock::now() < give_up) {
    const size_t bytes = rec.size() * sizeof(uint64_t);
    ssize_t got = ::read(fds[0], rec.data(), bytes);
    ASSERT_EQ(got, static_cast<ssize_t>(bytes)) << "the writer ended early";
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ::close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "writer failed at step " << WEXITSTATUS(status);
  ASSERT_GE(rec[0], 50u) << "the disk never filled up";
  const std::vector<uint64_t> acked(rec.begin() + 1, rec.end());
  uint64_t total = 0;
  for (uint64_t c : acked) total += c;
  ASSERT_GT(total, 0u);

  // The first Open on the full disk opens in the room of the store's reserve and serves every
  // acknowledged message. It is killed too (no Close); the second, without a reserve, either
  // opens in what room is left or fails with the clear error.
  for (int attempt = 0; attempt < 2; ++attempt) {
    OpenOutcome full = OpenInChild(dir, acked);
    std::printf("disk fault: Open on the full disk after a kill (%d): %s\n", attempt,
                full.Describe().c_str());
    if (attempt == 0) {
      EXPECT_TRUE(full.opened()) << full.Describe();
    }
    ASSERT_TRUE(full.opened() || full.failed_cleanly()) << full.Describe();
    if (full.failed_cleanly()) {
      EXPECT_NE(full.status.find("IO error"), std::string::npos) << full.status;
      EXPECT_NE(full.status.find(dir), std::string::npos) << "must name the directory";
    }
  }

  std::filesystem::remove(fs.sub("other"));
  OpenOutcome freed = OpenInChild(dir, acked);
  EXPECT_TRUE(freed.opened()) << freed.Describe();
  std::unique_ptr<QueueStore> store;
  ASSERT_TRUE(QueueStore::Open(SmallStore(dir), &store).ok());
  for (uint32_t q = 0; q < kQueues; ++q) {
    ASSERT_GE(store->QueueSize(PatternQueueName(q)), acked[q]);
    ASSERT_TRUE(QueueHolds(store.get(), q, acked[q])) << "queue " << q;
  }
  ASSERT_TRUE(store->Close().ok());
}

// Without its reserve (used up by an earlier Open on the full disk), a store on a full disk fails
// Open with an IOError that names the directory, the free bytes and what Open needs, and opens
// with everything once space returns.
TEST(DiskFault, WithoutItsReserveOpenOnAFullDiskFailsWithAClearError) {
  Tmpfs fs("8m");
  if (!fs.mounted()) MESHQ_SKIP_OR_FAIL("cannot mount a tmpfs (" << fs.error() << ")");
  const std::string dir = fs.sub("store");
  std::vector<uint64_t> acked(kQueues, 300);
  ASSERT_NO_FATAL_FAILURE(PutRoundsAndClose(dir, 300));
  ASSERT_TRUE(std::filesystem::remove(dir + "/meta/RESERVE")) << "Open made no reserve";
  SpaceThief thief(&fs);
  thief.Take();
  OpenOutcome full = OpenInChild(dir, acked);
  std::printf("disk fault: Open on a full disk without the reserve: %s\n", full.Describe().c_str());
  ASSERT_TRUE(full.failed_cleanly()) << full.Describe();
  EXPECT_NE(full.status.find("IO error: " + dir + ": no space to open the store: "),
            std::string::npos)
      << full.status;
  EXPECT_NE(full.status.find(" bytes free on its file system, Open needs up to "),
            std::string::npos)
      << full.status;
  thief.GiveBack();
  OpenOutcome freed = OpenInChild(dir, acked);
  EXPECT_TRUE(freed.opened()) << freed.Describe();
  std::unique_ptr<QueueStore> store;
  ASSERT_TRUE(QueueStore::Open(SmallStore(dir), &store).ok());
  for (uint32_t q = 0; q < kQueues; ++q) {  // 300, and what the child opened with space put
    ASSERT_GE(store->QueueSize(PatternQueueName(q)), 300u);
    ASSERT_TRUE(QueueHolds(store.get(), q, 300)) << "queue " << q;
  }
  ASSERT_TRUE(store->Close().ok());
  EXPECT_TRUE(std::filesystem::exists(dir + "/meta/RESERVE")) << "the reserve was not made again";
}

TEST(DiskFault, ReadOnlyFileSystemGivesIOErrorAndLeavesTheStoreIntact) {
  Tmpfs fs("16m");
  if (!fs.mounted()) {
    MESHQ_SKIP_OR_FAIL("cannot mount a tmpfs ("
                       << fs.error()
                       << "); root ignores directory permissions, so there is no read-only "
                          "fallback");
  }
  const std::string dir = fs.sub("store");
  ASSERT_NO_FATAL_FAILURE(PutRoundsAndClose(dir, 2000));
  std::unique_ptr<QueueStore> store;

  ASSERT_TRUE(fs.Remount(/*read_only=*/true)) << std::strerror(errno);
  Status s = QueueStore::Open(SmallStore(dir), &store);
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.ToString().find("Read-only file system"), std::string::npos) << s.ToString();
  EXPECT_NE(s.ToString().find(dir), std::string::npos) << "the error must name the file";
  // A new store on a read-only file system fails the same way, creating nothing.
  Status s2 = QueueStore::Open(SmallStore(fs.sub("other")), &store);
  EXPECT_TRUE(s2.IsIOError()) << s2.ToString();
  std::printf("disk fault: read-only file system: \"%s\" / \"%s\"\n", s.ToString().c_str(),
              s2.ToString().c_str());

  ASSERT_TRUE(fs.Remount(/*read_only=*/false)) << std::strerror(errno);
  ASSERT_TRUE(QueueStore::Open(SmallStore(dir), &store).ok());
  for (uint32_t q = 0; q < kQueues; ++q) ExpectQueue(store.get(), q, 2000);
  ASSERT_TRUE(store->Close().ok());
}

}  // namespace
}  // namespace meshq
