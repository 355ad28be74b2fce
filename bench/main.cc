// meshq-bench: runs the contest's three-phase workload over meshq (and/or RocksDB), verifies
// every message, and reports throughput beside the disk's limits. See BenchUsage().
#include <stdlib.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "bench_config.h"
#include "bench_store.h"
#include "cache_dropper.h"
#include "disk_limits.h"
#include "fault_injecting_store.h"
#include "meshq/flags.h"
#include "phase.h"
#include "process_stats.h"
#include "reference_machine.h"
#include "report.h"
#include "verifier.h"

namespace meshq::bench {
namespace {

constexpr int kExitMismatch = 1;
constexpr int kExitUsage = 2;

std::string Gigabytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f GB", static_cast<double>(bytes) / 1e9);
  return buf;
}

bool DirHasEntries(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::exists(dir, ec) &&
         std::filesystem::directory_iterator(dir, ec) != std::filesystem::directory_iterator();
}

// Runs the selected phases over one store; the store lives in `store_dir`. With `machine`, each
// phase also gets the I/O its cgroup issued.
StoreRun RunStore(const BenchConfig& config, StoreKind kind, const std::string& store_dir,
                  const ReferenceMachine* machine) {
  StoreRun run;
  run.store = kind;
  std::unique_ptr<BenchStore> store;
  run.status = OpenBenchStore(kind, store_dir, &store, config.direct_io, config.block_size);
  if (!run.status.ok()) return run;
  FaultInjectingStore* faulty = nullptr;
  if (config.fault != FaultKind::kNone) {
    // Damage an answer a little way into the reads, not the very first Get.
    auto wrapper = std::make_unique<FaultInjectingStore>(std::move(store), config.fault, 10);
    faulty = wrapper.get();
    store = std::move(wrapper);
  }

  const MessageGenerator generator(config.seed, config.min_size, config.max_size);
  Verifier verifier(&generator);
  PhaseContext context;
  context.store = store.get();
  context.workload = &config.workload;
  context.generator = &generator;
  context.verifier = &verifier;
  context.threads = config.threads;
  context.seed = config.seed;

  struct Step {
    bool enabled;
    Phase phase;
    PhaseResult (*run)(const PhaseContext&);
  };
  const Step steps[] = {{config.send, Phase::kSend, RunSendPhase},
                        {config.check, Phase::kCheck, RunCheckPhase},
                        {config.consume, Phase::kConsume, RunConsumePhase}};
  for (const Step& step : steps) {
    if (!step.enabled) continue;
    std::string cache = "warm";
    // Reads start cold when asked; the send phase writes, there is nothing to drop before it.
    if (config.drop_caches && step.phase != Phase::kSend) cache = DropCaches(store_dir);
    const DeviceIo io_before = machine ? machine->ReadIo() : DeviceIo{};
    PhaseResult result = step.run(context);
    if (machine) result.device_io = machine->ReadIo() - io_before;
    result.cache = cache;
    const bool failed = !result.status.ok();
    if (failed && run.status.ok()) run.status = result.status;
    run.phases.push_back(std::move(result));
    if (failed) break;
  }
  // Per-phase mismatch counts come from the phases; the verifier holds the run's total.
  run.mismatches = verifier.mismatches();
  run.mismatch_reports = verifier.reports();
  if (faulty) {
    run.fault = faulty->injected() ? std::string(FaultKindName(config.fault))
                                   : std::string("none (no Get answer could be damaged)");
  }
  const Status closed = store->Close();
  if (run.status.ok() && !closed.ok()) run.status = closed;
  store.reset();
  run.data_bytes = DirectoryDiskBytes(store_dir);
  return run;
}

int Main(int argc, char** argv) {
  BenchConfig config;
  Status s = ParseBenchConfig(std::vector<std::string>(argv + 1, argv + argc), &config);
  if (!s.ok()) {
    std::fputs(UsageError("meshq-bench", s.message()).c_str(), stderr);
    return kExitUsage;
  }
  if (config.help) {
    std::fputs(BenchUsage().c_str(), stdout);
    return 0;
  }

  // The data directory: a fresh one beside us unless --dir names one.
  bool created_dir = false;
  std::string dir = config.dir;
  std::error_code ec;
  if (dir.empty()) {
    char pattern[] = "meshq-bench-XXXXXX";
    if (!::mkdtemp(pattern)) {
      std::perror("meshq-bench: mkdtemp");
      return kExitUsage;
    }
    dir = std::filesystem::absolute(pattern).string();
    created_dir = true;
  } else if (!std::filesystem::exists(dir, ec)) {
    if (!std::filesystem::create_directories(dir, ec)) {
      std::fprintf(stderr, "meshq-bench: cannot create %s: %s\n", dir.c_str(),
                   ec.message().c_str());
      return kExitUsage;
    }
    created_dir = true;
  }
  auto cleanup = [&] {
    if (!config.keep && created_dir) std::filesystem::remove_all(dir, ec);
  };

  // Refuse before writing anything when the disk cannot hold the run.
  uint64_t needed = 0;
  for (StoreKind kind : config.stores) {
    const std::filesystem::path store_dir = std::filesystem::path(dir) / StoreKindName(kind);
    if (config.send && DirHasEntries(store_dir)) {
      std::fprintf(stderr,
                   "meshq-bench: %s already holds a store; the send phase needs an empty one "
                   "(remove it, or pick another --dir)\n",
                   store_dir.c_str());
      cleanup();
      return kExitUsage;
    }
    if (!config.send && !DirHasEntries(store_dir)) {
      std::fprintf(stderr,
                   "meshq-bench: --phases without send reads a store kept by an earlier run "
                   "(--keep) with the same --dir/--queues/--messages/--seed; %s is empty\n",
                   store_dir.c_str());
      cleanup();
      return kExitUsage;
    }
    if (config.send) needed += EstimateDiskBytes(config, kind);
  }
  const uint64_t free_bytes = FreeDiskBytes(dir);
  if (needed > 0 && free_bytes < needed) {
    std::fprintf(stderr,
                 "meshq-bench: refusing to start: --profile %s (%llu messages of %u-%u bytes) "
                 "needs about %s free in %s, and only %s is free. Pick a smaller profile or "
                 "--messages, or another --dir.\n",
                 config.profile.c_str(), static_cast<unsigned long long>(config.workload.messages),
                 config.min_size, config.max_size, Gigabytes(needed).c_str(), dir.c_str(),
                 Gigabytes(free_bytes).c_str());
    cleanup();
    return kExitUsage;
  }

  // Inside the reference machine's limits from here on: fio (--limits) too, so its figures are
  // the limits the phases had.
  std::unique_ptr<ReferenceMachine> machine;
  if (config.reference_machine) {
    s = ReferenceMachine::Enter(dir, &machine);
    if (!s.ok()) {
      std::fprintf(stderr, "meshq-bench: %s\n", s.ToString().c_str());
      cleanup();
      return kExitUsage;
    }
    const ReferenceLimits& l = machine->limits();
    std::fprintf(stderr, "== reference machine: %s and %s (disk %s)\n", l.memory_cgroup.c_str(),
                 l.blkio_cgroup.c_str(), l.device.c_str());
  }

  BenchReport report;
  report.config = config;
  report.dir = dir;
  for (int i = 0; i < argc; ++i) report.command += (i ? " " : "") + std::string(argv[i]);
  report.load_before = LoadAverage();
  report.memory_filesystem = IsMemoryFilesystem(dir);
  if (config.limits) {
    DiskLimits limits;
    s = MeasureDiskLimits(DiskLimitScript(), dir, config.threads, config.limit_seconds, &limits);
    if (s.ok()) {
      report.limits = limits;
    } else {
      std::fprintf(stderr, "meshq-bench: disk limits unavailable: %s\n", s.ToString().c_str());
    }
  }

  for (StoreKind kind : config.stores) {
    const std::string store_dir = (std::filesystem::path(dir) / StoreKindName(kind)).string();
    std::vector<StoreRun> runs;
    for (int r = 0; r < config.repeat; ++r) {
      // Each repetition sends into a fresh store (a read-only run re-reads the kept one).
      if (r > 0 && config.send) std::filesystem::remove_all(store_dir, ec);
      std::fprintf(stderr, "== %s: %s (run %d of %d)\n", StoreKindName(kind), store_dir.c_str(),
                   r + 1, config.repeat);
      runs.push_back(RunStore(config, kind, store_dir, machine.get()));
      if (!runs.back().status.ok()) break;
    }
    report.runs.push_back(MedianRun(std::move(runs)));
    if (!config.keep) std::filesystem::remove_all(store_dir, ec);
  }

  report.load_after = LoadAverage();
  if (machine) {
    report.reference =
        ReferenceReport{machine->limits(), machine->PeakMemoryBytes(), machine->MemoryLimitHits()};
    machine->Leave();
  }
  PrintReport(report, std::cout);
  std::cout.flush();
  int rc = 0;
  for (const StoreRun& run : report.runs) {
    if (!run.ok()) rc = kExitMismatch;
  }
  if (!config.json_path.empty()) {
    std::ofstream json(config.json_path);
    json << boost::json::serialize(ReportToJson(report)) << "\n";
    if (!json) {
      std::fprintf(stderr, "meshq-bench: cannot write %s\n", config.json_path.c_str());
      if (rc == 0) rc = kExitUsage;
    }
  }
  cleanup();
  return rc;
}

}  // namespace
}  // namespace meshq::bench

int main(int argc, char** argv) { return meshq::bench::Main(argc, argv); }
