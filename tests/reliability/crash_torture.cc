// Crash torture: in a loop bounded in iterations and time, fork a writer child that puts pattern
// messages from several threads into many queues, trims random queues to random offsets, and
// flushes now and then (kSync or kWrite at random; both must survive a kill -9), reporting
// through a pipe each trim before it asks for it and the per-queue counts and starts each
// completed Flush covered; SIGKILL it at a random moment, then (1) run `meshq verify` on the
// killed store, (2) reopen it and check that every acknowledged message not trimmed is present
// and intact, that no message a Flush-acknowledged trim dropped is served, that no more is gone
// than some trim asked for, that every present message is the right one (no garbage, no
// reordering, no gaps), and that Get never fails. The next child keeps writing into the same
// store. Prints the iterations survived; exit 0 when all passed, 1 at the first failure.
//
//   reliability_crash_torture [--dir D] [--seconds S] [--iterations N] [--seed X]
//                             [--queues Q] [--threads T] [--max-messages M]
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "meshq/flags.h"
#include "meshq/queue_store.h"
#include "message_pattern.h"
#include "temp_dir.h"
#ifdef MESHQ_HAVE_CLI
#include "commands.h"
#endif

namespace meshq {
namespace {

using testing::PatternMessage;
using testing::PatternQueueName;
using Clock = std::chrono::steady_clock;

struct Config {
  std::string dir;
  double seconds = 25;
  uint64_t iterations = 400;
  uint64_t seed = 1;
  uint32_t queues = 48;
  int threads = 4;
  uint64_t max_messages = 600000;  // a fresh store (new generation) past this many
  // StoreOptions::direct_io: "off", "on", or "mixed" (on in every other iteration, so that the
  // store also moves between the modes across kills).
  std::string direct_io = "off";
  int64_t writer_iteration = -1;  // >= 0: run as the writer child of that iteration
  int ack_fd = -1;
};

// Records of the pipe, all from the child's flushing thread (so never interleaved; a kill may
// leave the last one half written, which the parent ignores):
//   ack:  magic, then per queue the message count and the start a completed Flush made durable
//   trim: magic, queue u32, offset u64 — written before the Trim is asked for
constexpr uint32_t kAckMagic = 0x4B434D51;
constexpr uint32_t kTrimMagic = 0x4D495254;
constexpr uint32_t kMaxQueues = 400;

std::vector<char> EncodeAck(const std::vector<uint64_t>& counts,
                            const std::vector<uint64_t>& starts) {
  std::vector<char> rec(4 + 16 * counts.size());
  std::memcpy(rec.data(), &kAckMagic, 4);
  std::memcpy(rec.data() + 4, counts.data(), 8 * counts.size());
  std::memcpy(rec.data() + 4 + 8 * counts.size(), starts.data(), 8 * starts.size());
  return rec;
}

std::vector<char> EncodeTrim(uint32_t queue, uint64_t offset) {
  std::vector<char> rec(16);
  std::memcpy(rec.data(), &kTrimMagic, 4);
  std::memcpy(rec.data() + 4, &queue, 4);
  std::memcpy(rec.data() + 8, &offset, 8);
  return rec;
}

void WriteRecord(int fd, const std::vector<char>& rec) {
  if (write(fd, rec.data(), rec.size()) != static_cast<ssize_t>(rec.size())) _exit(4);
}

StoreOptions StoreOptionsFor(const Config& cfg, uint64_t iteration) {
  StoreOptions o;
  o.dir = cfg.dir;
  o.direct_io = cfg.direct_io == "on" || (cfg.direct_io == "mixed" && iteration % 2 == 1);
  o.segment_count = 8;
  // Block and chunk sizes change between runs over the same store: blocks are self-describing.
  static const uint32_t kBlockSizes[] = {1024, 4096, 16384};
  o.block_size = kBlockSizes[iteration % 3];
  o.write_chunk_size = iteration % 2 ? 64 * 1024 : 256 * 1024;
  o.max_pending_bytes = 8u << 20;
  return o;
}

[[noreturn]] void ChildFail(const char* what, const Status& s) {
  std::fprintf(stderr, "torture child: %s: %s\n", what, s.ToString().c_str());
  std::fflush(stderr);
  _exit(3);
}

// The writer child. Never returns: runs until SIGKILLed (or a safety alarm).
[[noreturn]] void RunWriter(const Config& cfg, uint64_t iteration, int ack_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  alarm(60);
  std::unique_ptr<QueueStore> store;
  Status s = QueueStore::Open(StoreOptionsFor(cfg, iteration), &store);
  if (!s.ok()) ChildFail("open", s);
  std::vector<std::atomic<uint64_t>> done(cfg.queues);
  for (uint32_t q = 0; q < cfg.queues; ++q) done[q] = store->QueueSize(PatternQueueName(q));

  std::vector<std::thread> writers;
  for (int t = 0; t < cfg.threads; ++t) {
    writers.emplace_back([&, t] {
      // Each queue has one writer thread (puts to a queue are serialized by the caller), and
      // each thread round-robins over its queues so their blocks interleave in the segments.
      std::vector<uint32_t> mine;
      for (uint32_t q = static_cast<uint32_t>(t); q < cfg.queues; q += cfg.threads) {
        mine.push_back(q);
      }
      std::mt19937_64 rng(cfg.seed * 7919 + iteration * 131 + static_cast<uint64_t>(t));
      for (;;) {
        uint32_t q = mine[rng() % mine.size()];
        int burst = 1 + static_cast<int>(rng() % 20);
        for (int i = 0; i < burst; ++i) {
          uint64_t off = done[q].load(std::memory_order_relaxed);
          Status ps = store->Put(PatternQueueName(q), PatternMessage(q, off));
          if (!ps.ok()) ChildFail("put", ps);
          done[q].store(off + 1, std::memory_order_release);
        }
        // Throttled most of the time so flushes keep up; every fourth run writes flat out.
        if (iteration % 4 != 0) std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
    });
  }
  std::mt19937_64 rng(cfg.seed ^ (iteration << 20));
  std::vector<uint64_t> snapshot(cfg.queues), starts(cfg.queues);
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1 + rng() % 25));
    // Trims, most often of a small prefix (a retention's), sometimes to the queue's end.
    for (int t = static_cast<int>(rng() % 3); t > 0; --t) {
      const uint32_t q = static_cast<uint32_t>(rng() % cfg.queues);
      const std::string name = PatternQueueName(q);
      const uint64_t start = store->QueueStart(name);
      const uint64_t size = done[q].load(std::memory_order_acquire);
      if (size <= start) continue;
      const uint64_t to = rng() % 8 == 0 ? size : start + rng() % ((size - start) / 4 + 1);
      WriteRecord(ack_fd, EncodeTrim(q, to));
      s = store->Trim(name, to);
      if (!s.ok()) ChildFail("trim", s);
    }
    // Counts and starts read before Flush starts: every one of those Puts and Trims returned
    // before the Flush call.
    for (uint32_t q = 0; q < cfg.queues; ++q) {
      snapshot[q] = done[q].load(std::memory_order_acquire);
      starts[q] = store->QueueStart(PatternQueueName(q));
    }
    // Half the Flushes only write to the OS (kWrite): a kill -9 must not lose them either, and
    // their blocks, never checkpointed until a kSync Flush, are found by the reopen's scan.
    s = store->Flush(rng() % 2 == 0 ? FlushMode::kSync : FlushMode::kWrite);
    if (!s.ok()) ChildFail("flush", s);
    WriteRecord(ack_fd, EncodeAck(snapshot, starts));
  }
}

class Torture {
 public:
  explicit Torture(Config cfg)
      : cfg_(std::move(cfg)),
        rng_(cfg_.seed),
        acked_(cfg_.queues, 0),
        acked_start_(cfg_.queues, 0),
        asked_start_(cfg_.queues, 0) {}

  int Run() {
    const auto start = Clock::now();
    const auto deadline =
        start + std::chrono::milliseconds(static_cast<int64_t>(cfg_.seconds * 1000));
    uint64_t it = 0;
    for (; it < cfg_.iterations && Clock::now() < deadline; ++it) {
      if (!Iteration(it)) {
        std::printf("crash torture: FAILED in iteration %llu after %llu survived\n",
                    static_cast<unsigned long long>(it), static_cast<unsigned long long>(it));
        return 1;
      }
      if (it % 10 == 9) {
        std::printf("crash torture: %llu iterations, %llu messages verified in generation %llu\n",
                    static_cast<unsigned long long>(it + 1),
                    static_cast<unsigned long long>(last_present_),
                    static_cast<unsigned long long>(generation_));
        std::fflush(stdout);
      }
    }
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf(
        "crash torture: %llu iterations survived in %.1f s: %llu SIGKILLs, %llu flushes "
        "acknowledged, %llu acknowledged messages found intact, %llu unacknowledged survivors "
        "checked, %llu messages verified, %llu trims asked for (%llu messages trimmed, %llu of "
        "them by an acknowledged Flush), %llu killed stores verified clean by `meshq verify`, "
        "%llu generations\n",
        static_cast<unsigned long long>(it), secs, static_cast<unsigned long long>(kills_),
        static_cast<unsigned long long>(acks_), static_cast<unsigned long long>(acked_checked_),
        static_cast<unsigned long long>(unacked_survivors_),
        static_cast<unsigned long long>(verified_total_), static_cast<unsigned long long>(trims_),
        static_cast<unsigned long long>(trimmed_), static_cast<unsigned long long>(acked_trimmed_),
        static_cast<unsigned long long>(cli_verified_),
        static_cast<unsigned long long>(generation_ + 1));
    return 0;
  }

 private:
  bool Fail(const std::string& what) {
    std::printf("crash torture: %s\n", what.c_str());
    return false;
  }

  bool Iteration(uint64_t it) {
    int fds[2];
    if (pipe(fds) != 0) return Fail("pipe failed");
    // The writer is a freshly exec'd copy of this program, not just a fork: the parent has
    // threads (RocksDB's thread pool outlives a closed DB) that a forked child would lack.
    std::vector<std::string> args = {"/proc/self/exe",
                                     "--dir",
                                     cfg_.dir,
                                     "--seed",
                                     std::to_string(cfg_.seed),
                                     "--queues",
                                     std::to_string(cfg_.queues),
                                     "--threads",
                                     std::to_string(cfg_.threads),
                                     "--direct-io",
                                     cfg_.direct_io,
                                     "--writer-iteration",
                                     std::to_string(it),
                                     "--ack-fd",
                                     std::to_string(fds[1])};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return Fail("fork failed");
    if (pid == 0) {
      close(fds[0]);
      execv("/proc/self/exe", argv.data());
      _exit(5);
    }
    close(fds[1]);
    // Kill anywhere from "still opening the store" to "many flushes in".
    const auto run_for =
        std::chrono::milliseconds(rng_() % 4 == 0 ? rng_() % 100 : 100 + rng_() % 1200);
    const auto kill_at = Clock::now() + run_for;
    std::string pending;
    while (Clock::now() < kill_at) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(kill_at - Clock::now());
      pollfd p{fds[0], POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count()) + 1) > 0 && !ReadAcks(fds[0], &pending)) {
        break;  // the child died by itself
      }
    }
    kill(pid, SIGKILL);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    while (ReadAcks(fds[0], &pending)) {
    }
    close(fds[0]);
    if (!(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)) {
      return Fail("writer child exited by itself (status " + std::to_string(wstatus) + ")");
    }
    ++kills_;
    return CheckStore(it);
  }

  // Reads what the pipe has; false at EOF.
  bool ReadAcks(int fd, std::string* pending) {
    char buf[16384];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return false;
    pending->append(buf, static_cast<size_t>(n));
    const size_t ack = 4 + 16 * cfg_.queues;
    while (pending->size() >= 4) {
      uint32_t magic;
      std::memcpy(&magic, pending->data(), 4);
      if (magic == kTrimMagic) {
        if (pending->size() < 16) break;
        uint32_t q;
        uint64_t to;
        std::memcpy(&q, pending->data() + 4, 4);
        std::memcpy(&to, pending->data() + 8, 8);
        if (q >= cfg_.queues) return false;
        asked_start_[q] = std::max(asked_start_[q], to);
        ++trims_;
        pending->erase(0, 16);
      } else if (magic == kAckMagic) {
        if (pending->size() < ack) break;
        for (uint32_t q = 0; q < cfg_.queues; ++q) {
          uint64_t c, st;
          std::memcpy(&c, pending->data() + 4 + 8 * q, 8);
          std::memcpy(&st, pending->data() + 4 + 8 * (cfg_.queues + q), 8);
          acked_[q] = std::max(acked_[q], c);
          acked_start_[q] = std::max(acked_start_[q], st);
        }
        ++acks_;
        pending->erase(0, ack);
      } else {
        pending->clear();
        return false;
      }
    }
    return true;
  }

  bool CheckStore(uint64_t it) {
#ifdef MESHQ_HAVE_CLI
    // The killed store, before any reopen repaired anything, must verify clean: leftovers of
    // interrupted writes past the tails are reported as such, never as problems.
    // (Only once a store exists: a child killed inside the very first Open leaves a half-made
    // directory that is rightly "not a meshq store" until an Open completes.)
    if (store_complete_) {
      std::ostringstream out, err;
      int code = cli::RunVerify({cfg_.dir}, out, err);
      if (code != 0)
        return Fail("meshq verify on the killed store: exit " + std::to_string(code) + "\n" +
                    out.str() + err.str());
      ++cli_verified_;
    }
#endif
    std::unique_ptr<QueueStore> store;
    Status s = QueueStore::Open(StoreOptionsFor(cfg_, it + 1), &store);
    if (!s.ok()) return Fail("reopen after SIGKILL: " + s.ToString());
    store_complete_ = true;
    uint64_t present_total = 0;
    MessageBatch batch;
    for (uint32_t q = 0; q < cfg_.queues; ++q) {
      const std::string name = PatternQueueName(q);
      const uint64_t size = store->QueueSize(name);
      if (size < acked_[q]) {
        return Fail(name + ": " + std::to_string(size) + " messages after reopen, but a Flush " +
                    "acknowledged " + std::to_string(acked_[q]));
      }
      // Trimmed: at least what an acknowledged Flush made durable, at most what was asked for.
      const uint64_t start = store->QueueStart(name);
      if (start < acked_start_[q]) {
        return Fail(name + ": starts at " + std::to_string(start) + " after reopen, but a Flush " +
                    "acknowledged a trim to " + std::to_string(acked_start_[q]) +
                    " (trimmed messages served again)");
      }
      if (start > asked_start_[q]) {
        return Fail(name + ": starts at " + std::to_string(start) + " after reopen, but no trim " +
                    "went past " + std::to_string(asked_start_[q]) + " (kept messages lost)");
      }
      // A Get below the start returns from the first kept message and says so.
      s = store->Get(name, 0, 1, &batch);
      if (!s.ok() || (start < size && (batch.size() != 1 || batch.first_offset() != start ||
                                       batch[0] != PatternMessage(q, start)))) {
        return Fail(name + ": Get at 0 of a queue starting at " + std::to_string(start) +
                    " did not return message " + std::to_string(start));
      }
      // Every present message, acknowledged or not, must be the right one, in order.
      uint64_t off = start;
      while (off < size) {
        s = store->Get(name, off, 1 + rng_() % 300, &batch);
        if (!s.ok()) return Fail(name + ": Get at " + std::to_string(off) + ": " + s.ToString());
        if (batch.empty()) return Fail(name + ": empty Get at " + std::to_string(off));
        if (batch.first_offset() != off) {
          return Fail(name + ": Get at " + std::to_string(off) + " returned a batch from " +
                      std::to_string(batch.first_offset()));
        }
        for (size_t i = 0; i < batch.size(); ++i, ++off) {
          if (batch[i] != PatternMessage(q, off)) {
            return Fail(name + ": message " + std::to_string(off) + " is wrong (" +
                        std::to_string(batch[i].size()) + " bytes)");
          }
        }
      }
      s = store->Get(name, size, 10, &batch);
      if (!s.ok() || !batch.empty()) return Fail(name + ": Get past the end returned data");
      acked_checked_ += acked_[q] - std::min(acked_[q], start);
      unacked_survivors_ += size - acked_[q];
      trimmed_ += start - std::min(start, last_start_[q]);
      acked_trimmed_ += acked_start_[q] - std::min(acked_start_[q], last_start_[q]);
      // The parent's Close below makes everything present durable: it must never shrink again,
      // nor the start move back.
      acked_[q] = size;
      acked_start_[q] = asked_start_[q] = last_start_[q] = start;
      present_total += size - start;
    }
    s = store->Close();
    if (!s.ok()) return Fail("close after verification: " + s.ToString());
    verified_total_ += present_total;
    last_present_ = present_total;
    if (present_total > cfg_.max_messages) {
      // Bound the per-iteration verification cost: start a new store.
      std::filesystem::remove_all(cfg_.dir);
      std::fill(acked_.begin(), acked_.end(), 0);
      std::fill(acked_start_.begin(), acked_start_.end(), 0);
      std::fill(asked_start_.begin(), asked_start_.end(), 0);
      std::fill(last_start_.begin(), last_start_.end(), 0);
      store_complete_ = false;
      ++generation_;
    }
    return true;
  }

  const Config cfg_;
  std::mt19937_64 rng_;
  std::vector<uint64_t> acked_;
  std::vector<uint64_t> acked_start_;  // the start of the last Flush-acknowledged trim
  std::vector<uint64_t> asked_start_;  // the furthest any trim asked for
  std::vector<uint64_t> last_start_ = std::vector<uint64_t>(cfg_.queues, 0);  // last verified
  uint64_t trims_ = 0, trimmed_ = 0, acked_trimmed_ = 0;
  uint64_t kills_ = 0, acks_ = 0, verified_total_ = 0, cli_verified_ = 0;
  uint64_t acked_checked_ = 0;      // acknowledged messages checked present, over all iterations
  uint64_t unacked_survivors_ = 0;  // present but never acknowledged (each checked too)
  uint64_t last_present_ = 0, generation_ = 0;
  bool store_complete_ = false;  // an Open of the current store has completed
};

// The command line; nullopt when the torture should run, else the exit status.
std::optional<int> ParseArgs(int argc, char** argv, Config* cfg) {
  FlagSet flags("reliability_crash_torture",
                "Kills writer children at random moments and checks that every flushed message\n"
                "survives each restart.");
  flags.String("dir", &cfg->dir, "the store (default: a fresh temporary directory)", "DIR");
  flags.Double("seconds", &cfg->seconds, 0.001, 1e6, "run for this long");
  flags.Count<uint64_t>("iterations", &cfg->iterations, 0, uint64_t{1} << 40,
                        "at most this many kills");
  flags.Int<uint64_t>("seed", &cfg->seed, 0, UINT64_MAX, "random seed");
  flags.Int<uint32_t>("queues", &cfg->queues, 1, kMaxQueues, "queues written");
  flags.Int("threads", &cfg->threads, 1, 256, "writer threads");
  flags.Count<uint64_t>("max-messages", &cfg->max_messages, 1, uint64_t{1} << 40,
                        "a fresh store (new generation) past this many");
  flags.Custom(
      "direct-io", "off|on|mixed", "off",
      [cfg](std::string_view v) {
        if (v != "off" && v != "on" && v != "mixed") {
          return Status::InvalidArgument("--direct-io must be off, on or mixed");
        }
        cfg->direct_io = std::string(v);
        return Status::OK();
      },
      "the segment files' I/O: buffered, direct, or changing between kills");
  // Internal: this process is the writer child of that iteration, acknowledging on that fd.
  flags.Int<int64_t>("writer-iteration", &cfg->writer_iteration, -1, INT64_MAX,
                     "internal: run as the writer child of this iteration");
  flags.Int("ack-fd", &cfg->ack_fd, -1, 1 << 20, "internal: the writer child's ack pipe");
  return flags.ParseCommandLine(argc, argv);
}

}  // namespace
}  // namespace meshq

int main(int argc, char** argv) {
  meshq::Config cfg;
  if (auto exit_code = meshq::ParseArgs(argc, argv, &cfg)) return *exit_code;
  if (cfg.writer_iteration >= 0) {
    meshq::RunWriter(cfg, static_cast<uint64_t>(cfg.writer_iteration), cfg.ack_fd);
  }
  std::unique_ptr<meshq::testing::TempDir> tmp;
  if (cfg.dir.empty()) {
    tmp = std::make_unique<meshq::testing::TempDir>();
    cfg.dir = tmp->sub("store");
  }
  std::printf(
      "crash torture: store %s, seed %llu, %u queues, %d writer threads, %.0f s / %llu "
      "iterations at most\n",
      cfg.dir.c_str(), static_cast<unsigned long long>(cfg.seed), cfg.queues, cfg.threads,
      cfg.seconds, static_cast<unsigned long long>(cfg.iterations));
  return meshq::Torture(cfg).Run();
}
