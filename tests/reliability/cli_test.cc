// The `meshq` tool on real stores: inspect/verify/dump report what was written, verify finds a
// flipped byte (exit 1), a missing or foreign directory is a clean usage error (exit 2), and no
// subcommand modifies the store.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "commands.h"
#include "meshq/queue_store.h"
#include "message_pattern.h"
#include "queue_store_impl.h"
#include "store_view.h"
#include "temp_dir.h"

namespace meshq {
namespace {

using testing::PatternMessage;
using testing::PatternQueueName;

struct CliRun {
  int code;
  std::string out;
  std::string err;
};

CliRun Meshq(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  int code = cli::RunMeshq(args, out, err);
  return {code, out.str(), err.str()};
}

// Writes `queues` queues of `per_queue` pattern messages and closes the store.
void BuildStore(const std::string& dir, uint32_t queues, uint64_t per_queue) {
  StoreOptions o;
  o.dir = dir;
  o.segment_count = 4;
  std::unique_ptr<QueueStore> store;
  ASSERT_TRUE(QueueStore::Open(o, &store).ok());
  for (uint64_t off = 0; off < per_queue; ++off) {
    for (uint32_t q = 0; q < queues; ++q) {
      ASSERT_TRUE(store->Put(PatternQueueName(q), PatternMessage(q, off)).ok());
    }
  }
  ASSERT_TRUE(store->Close().ok());
}

// Every file of the store with its size and modification time, to prove the tool wrote nothing.
std::map<std::string, std::pair<uintmax_t, int64_t>> Snapshot(const std::string& dir) {
  std::map<std::string, std::pair<uintmax_t, int64_t>> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    struct stat st;
    if (::stat(e.path().c_str(), &st) != 0) continue;
    files[e.path().string()] = {static_cast<uintmax_t>(st.st_size),
                                int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec};
  }
  return files;
}

// A trimmed store: verify is clean (holes where trimmed blocks were released are free space),
// inspect shows the kept messages and the space given back, dump starts at the first kept
// message; a hole punched where the index has a block is a problem named as such.
TEST(MeshqTool, TrimmedStoreVerifiesCleanAndShowsReleasedSpace) {
  testing::TempDir tmp;
  const std::string dir = tmp.sub("store");
  BuildStore(dir, 10, 3000);
  {
    StoreOptions o;
    o.dir = dir;
    o.segment_count = 4;
    std::unique_ptr<QueueStore> store;
    ASSERT_TRUE(QueueStore::Open(o, &store).ok());
    for (uint32_t q = 0; q < 10; ++q) ASSERT_TRUE(store->Trim(PatternQueueName(q), 2900).ok());
    ASSERT_TRUE(store->Close().ok());
  }
  CliRun verify = Meshq({"verify", dir});
  EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("CLEAN: 10 queues, 1000 messages"), std::string::npos) << verify.out;
  CliRun inspect = Meshq({"inspect", dir, "--queues"});
  ASSERT_EQ(inspect.code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("messages 1000 (29000 more trimmed)"), std::string::npos)
      << inspect.out;
  // The total row: live and allocated bytes well under the file bytes.
  std::istringstream total(inspect.out.substr(inspect.out.find("\ntotal") + 1));
  std::string label;
  uint64_t queues, messages, blocks, payload, live, allocated, file;
  total >> label >> queues >> messages >> blocks >> payload >> live >> allocated >> file;
  EXPECT_EQ(messages, 1000u);
  EXPECT_LT(live, file / 10) << inspect.out;
  EXPECT_LT(allocated, file / 5) << inspect.out;
  CliRun dump = Meshq({"dump", dir, PatternQueueName(3), "--count", "1"});
  EXPECT_EQ(dump.out.rfind("2900\t", 0), 0u) << dump.out;

  // Punch out a kept block: verify names the hole.
  cli::StoreView view;
  ASSERT_TRUE(view.Open(dir).ok());
  const cli::ViewQueue* q = view.FindQueue(PatternQueueName(3));
  ASSERT_NE(q, nullptr);
  ASSERT_FALSE(q->blocks.empty());
  const uint64_t at = uint64_t{q->blocks.back().unit} * kBlockUnit;
  const std::string path = view.segment(q->segment).path;
  PosixFile f;
  ASSERT_TRUE(f.Open(path, false).ok());
  bool unsupported = false;
  ASSERT_TRUE(f.PunchHole(at, kBlockUnit, &unsupported).ok());
  ASSERT_FALSE(unsupported);
  verify = Meshq({"verify", dir});
  EXPECT_EQ(verify.code, 1) << verify.out;
  EXPECT_NE(verify.out.find("reads as zeros: a hole"), std::string::npos) << verify.out;
}

TEST(MeshqTool, InspectVerifyDumpOnARealStore) {
  testing::TempDir tmp;
  const std::string dir = tmp.sub("store");
  BuildStore(dir, 20, 300);
  const auto before = Snapshot(dir);

  CliRun inspect = Meshq({"inspect", dir, "--queues"});
  EXPECT_EQ(inspect.code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("queues 20, messages 6000"), std::string::npos) << inspect.out;
  EXPECT_NE(inspect.out.find(PatternQueueName(7)), std::string::npos);
  // Fill of the total row: payload / stored bytes, strictly between 0 and 1.
  auto total = inspect.out.find("\ntotal");
  ASSERT_NE(total, std::string::npos);
  double fill = std::stod(
      inspect.out.substr(inspect.out.find_last_of(' ', inspect.out.find('\n', total + 1)) + 1));
  EXPECT_GT(fill, 0.3);
  EXPECT_LE(fill, 1.0);

  CliRun verify = Meshq({"verify", dir});
  EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("CLEAN: 20 queues, 6000 messages"), std::string::npos) << verify.out;

  CliRun dump =
      Meshq({"dump", dir, PatternQueueName(3), "--from", "295", "--count", "10", "--hex"});
  EXPECT_EQ(dump.code, 0) << dump.err;
  std::istringstream lines(dump.out);
  std::string line;
  uint64_t want = 295;
  while (std::getline(lines, line)) {
    std::string m = PatternMessage(3, want);
    std::string hex;
    for (unsigned char c : m) {
      char b[3];
      std::snprintf(b, sizeof(b), "%02x", c);
      hex += b;
    }
    EXPECT_EQ(line, std::to_string(want) + "\t" + std::to_string(m.size()) + "\t" + hex);
    ++want;
  }
  EXPECT_EQ(want, 300u);  // 295..299: the queue ends before --count runs out

  CliRun missing_queue = Meshq({"dump", dir, "no-such-queue"});
  EXPECT_EQ(missing_queue.code, 1);
  EXPECT_NE(missing_queue.err.find("no queue 'no-such-queue'"), std::string::npos);

  EXPECT_EQ(Snapshot(dir), before) << "a read-only subcommand modified the store";
}

TEST(MeshqTool, VerifyFindsAFlippedByteAndDumpRefusesTheBlock) {
  testing::TempDir tmp;
  const std::string dir = tmp.sub("store");
  BuildStore(dir, 4, 200);
  ASSERT_EQ(Meshq({"verify", dir}).code, 0);

  // Flip one payload byte of the first block of the segment holding queue 0's data.
  std::string victim;
  for (uint32_t i = 0; i < 4; ++i) {
    std::string p = QueueStoreImpl::SegmentPath(dir, i);
    if (std::filesystem::file_size(p) > 0) {
      victim = p;
      break;
    }
  }
  ASSERT_FALSE(victim.empty());
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(40);
    char c = 0;
    f.read(&c, 1);
    c ^= 0x20;
    f.seekp(40);
    f.write(&c, 1);
  }
  CliRun verify = Meshq({"verify", dir});
  EXPECT_EQ(verify.code, 1) << verify.out;
  EXPECT_NE(verify.out.find("block checksum mismatch"), std::string::npos) << verify.out;
  EXPECT_NE(verify.out.find("PROBLEMS FOUND"), std::string::npos) << verify.out;

  // Whichever queue owns the block: dumping it reports the corruption instead of printing data.
  int refused = 0;
  for (uint32_t q = 0; q < 4; ++q) {
    CliRun dump = Meshq({"dump", dir, PatternQueueName(q)});
    if (dump.code == 1 && dump.err.find("checksum") != std::string::npos) ++refused;
  }
  EXPECT_EQ(refused, 1);
}

TEST(MeshqTool, MissingAndForeignDirectoriesAreUsageErrors) {
  testing::TempDir tmp;
  CliRun missing = Meshq({"verify", tmp.sub("nope")});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("no such directory"), std::string::npos) << missing.err;

  std::filesystem::create_directories(tmp.sub("foreign"));
  std::ofstream(tmp.sub("foreign/notes.txt")) << "not a store";
  for (const char* cmd : {"inspect", "verify"}) {
    CliRun foreign = Meshq({cmd, tmp.sub("foreign")});
    EXPECT_EQ(foreign.code, 2) << cmd;
    EXPECT_NE(foreign.err.find("not a meshq store"), std::string::npos) << foreign.err;
  }
  EXPECT_FALSE(std::filesystem::exists(tmp.sub("foreign/meta")));

  EXPECT_EQ(Meshq({"verify"}).code, 2);
  EXPECT_EQ(Meshq({"dump", tmp.path()}).code, 2);
  EXPECT_EQ(Meshq({"frobnicate"}).code, 2);
}

// Runs `fn` in a forked child with umask 0 — as `uid` when the test runs as root, so that file
// permissions apply — and returns its exit status (-1 when it did not exit normally).
int RunAs(uid_t uid, const std::function<int()>& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::umask(0);
    if (::geteuid() == 0 && (::setgid(uid) != 0 || ::setuid(uid) != 0)) _exit(100);
    _exit(fn());
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Messages are private: whatever the umask, the store's directories are 0700 and every file in
// it (the engine's and RocksDB's) 0600, and the `meshq` tool, run by the same user, still reads
// it. As root the store is made by an unprivileged user, and another one is refused.
TEST(MeshqTool, StoreFilesAreTheOwnersAloneAndTheToolReadsThem) {
  testing::TempDir tmp;
  const uid_t owner = 65534, stranger = 65533;
  const bool root = ::geteuid() == 0;
  // The owner's home, where the store and its parent are created.
  const std::string home = tmp.sub("home"), dir = home + "/stores/a";
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0711), 0);
  ASSERT_EQ(::mkdir(home.c_str(), 0755), 0);
  if (root) {
    ASSERT_EQ(::chown(home.c_str(), owner, owner), 0);
  }
  int made = RunAs(owner, [&] {
    StoreOptions o;
    o.dir = dir;
    o.segment_count = 4;
    for (int round = 0; round < 2; ++round) {  // the second Open recovers and rewrites files
      std::unique_ptr<QueueStore> store;
      Status s = QueueStore::Open(o, &store);
      if (!s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
      for (uint64_t off = 0; off < 100; ++off) {
        for (uint32_t q = 0; q < 8; ++q) {
          if (!store->Put(PatternQueueName(q), PatternMessage(q, off)).ok()) return 2;
        }
      }
      if (!store->PutMetadata("k", "v").ok() || !store->Close().ok()) return 3;
    }
    return 0;
  });
  ASSERT_EQ(made, 0);

  int entries = 0;
  auto check = [&](const std::string& path) {
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_mode & 077, 0u) << path << " has mode " << std::oct << (st.st_mode & 07777);
    if (root) {
      EXPECT_EQ(st.st_uid, owner) << path;
    }
    ++entries;
  };
  check(home + "/stores");
  check(dir);
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) check(e.path());
  EXPECT_GT(entries, 10);  // segments, LOCK, the reserve, RocksDB's files, meta/
  EXPECT_TRUE(std::filesystem::exists(dir + "/meta/CURRENT"));

  int read = RunAs(owner, [&] {
    if (Meshq({"inspect", dir, "--queues"}).code != 0) return 1;
    if (Meshq({"verify", dir}).code != 0) return 2;
    CliRun dump = Meshq({"dump", dir, PatternQueueName(3)});
    if (dump.code != 0 || dump.out.find("99\t") == std::string::npos) return 3;
    return 0;
  });
  EXPECT_EQ(read, 0) << "the owner's tool could not read the store";
  if (root) {
    int denied = RunAs(stranger, [&] {
      if (::access(dir.c_str(), R_OK) == 0 || errno != EACCES) return 1;
      return Meshq({"verify", dir}).code == 0 ? 2 : 0;
    });
    EXPECT_EQ(denied, 0) << "another user could read the store";
  }
}

TEST(MeshqTool, BinaryExitStatusMatches) {
  testing::TempDir tmp;
  const std::string dir = tmp.sub("store");
  BuildStore(dir, 2, 10);
  auto status = [](const std::string& cmd) {
    int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  EXPECT_EQ(status(std::string(MESHQ_CLI_BINARY) + " verify " + dir), 0);
  EXPECT_EQ(status(std::string(MESHQ_CLI_BINARY) + " verify " + tmp.sub("missing")), 2);
}

}  // namespace
}  // namespace meshq
