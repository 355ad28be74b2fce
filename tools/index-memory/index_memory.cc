// meshq-index-memory: fills a store the way the contest's producers do (one global counter,
// message i goes to queue i % queues), then reports the engine's own memory accounting —
// index bytes per queue and per block, open-block bytes — next to the process RSS, and the cost
// of Close and of a reopen. Message bytes are not verified here; meshq-bench does that.
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "meshq/flags.h"
#include "meshq/options.h"
#include "meshq/queue_store.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

uint64_t RssBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  uint64_t queues = 1000000, messages = 20000000;
  int threads = 24;
  size_t size = 50;
  bool keep = false;
  meshq::FlagSet flags(
      "meshq-index-memory",
      "Fills a store like the contest's producers, then reports the engine's index\n"
      "memory beside the process RSS, and the cost of Close and of a reopen.",
      "--dir DIR [flags]");
  flags.String("dir", &dir, "the store's directory (required)", "DIR");
  flags.Count<uint64_t>("queues", &queues, 1, UINT32_MAX, "number of queues");
  flags.Count<uint64_t>("messages", &messages, 0, uint64_t{1} << 40, "messages put");
  flags.Int("threads", &threads, 1, 1024, "producer threads");
  flags.Int<size_t>("size", &size, 0, meshq::kMaxMessageSize, "bytes per message");
  flags.Bool("keep", &keep, "keep the store");
  if (auto exit_code = flags.ParseCommandLine(argc, argv)) return *exit_code;
  if (dir.empty()) {
    std::fputs(meshq::UsageError("meshq-index-memory", "--dir is required").c_str(), stderr);
    return 2;
  }

  meshq::StoreOptions options;
  options.dir = dir;
  std::unique_ptr<meshq::QueueStore> store;
  meshq::Status s = meshq::QueueStore::Open(options, &store);
  if (!s.ok()) {
    std::fprintf(stderr, "open: %s\n", s.ToString().c_str());
    return 1;
  }
  std::vector<std::string> names(queues);
  for (uint64_t q = 0; q < queues; ++q) names[q] = "Queue-" + std::to_string(q);
  const uint64_t rss_before = RssBytes();

  std::atomic<uint64_t> counter{0};
  std::atomic<bool> failed{false};
  const std::string message(size, 'm');
  auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (;;) {
        uint64_t c = counter.fetch_add(1, std::memory_order_relaxed);
        if (c >= messages) break;
        if (!store->Put(names[c % queues], message).ok()) failed = true;
      }
    });
  }
  for (auto& w : workers) w.join();
  const double put_seconds = Seconds(start);
  if (failed) {
    std::fprintf(stderr, "a Put failed\n");
    return 1;
  }
  meshq::StoreStats st = store->GetStats();
  const uint64_t rss_after = RssBytes();

  start = Clock::now();
  s = store->Close();
  const double close_seconds = Seconds(start);
  if (!s.ok()) {
    std::fprintf(stderr, "close: %s\n", s.ToString().c_str());
    return 1;
  }
  store.reset();
  start = Clock::now();
  s = meshq::QueueStore::Open(options, &store);
  const double open_seconds = Seconds(start);
  if (!s.ok()) {
    std::fprintf(stderr, "reopen: %s\n", s.ToString().c_str());
    return 1;
  }
  meshq::StoreStats reopened = store->GetStats();
  store.reset();
  if (!keep) std::system(("rm -rf '" + dir + "'").c_str());

  std::printf("queues                 %llu\n", static_cast<unsigned long long>(st.queues));
  std::printf("messages               %llu (%zu bytes each)\n",
              static_cast<unsigned long long>(st.messages), size);
  std::printf("threads                %d\n", threads);
  std::printf("put                    %.2f s, %.0f ns/put wall, %.2f M puts/s\n", put_seconds,
              put_seconds * 1e9 / static_cast<double>(messages),
              static_cast<double>(messages) / put_seconds / 1e6);
  std::printf("sealed blocks          %llu\n", static_cast<unsigned long long>(st.blocks));
  std::printf("index bytes            %llu (%.1f per queue, %.1f per block)\n",
              static_cast<unsigned long long>(st.index_bytes),
              static_cast<double>(st.index_bytes) / static_cast<double>(st.queues),
              st.blocks ? static_cast<double>(st.index_bytes) / static_cast<double>(st.blocks) : 0);
  std::printf("open block bytes       %llu (%.1f per queue)\n",
              static_cast<unsigned long long>(st.open_block_bytes),
              static_cast<double>(st.open_block_bytes) / static_cast<double>(st.queues));
  std::printf("staged write bytes     %llu\n",
              static_cast<unsigned long long>(st.pending_write_bytes));
  std::printf("RSS growth during puts %llu (names table of the load itself included)\n",
              static_cast<unsigned long long>(rss_after - rss_before));
  std::printf("close (flush+ckpt)     %.2f s\n", close_seconds);
  std::printf("reopen                 %.2f s, index bytes after reopen %llu, messages %llu\n",
              open_seconds, static_cast<unsigned long long>(reopened.index_bytes),
              static_cast<unsigned long long>(reopened.messages));
  return reopened.messages == st.messages ? 0 : 1;
}
