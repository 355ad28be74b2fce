// BenchConfig: what one meshq-bench run does, from a profile (smoke|default|large|contest) and
// explicit flags that override it, whatever their order on the command line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench_store.h"
#include "fault_injecting_store.h"
#include "meshq/status.h"
#include "workload.h"

namespace meshq::bench {

struct BenchConfig {
  std::string profile = "default";
  Workload workload;
  int threads = 24;
  uint32_t min_size = 40;
  uint32_t max_size = 60;
  uint64_t seed = 1;
  // Parent directory of the stores' data; empty = a fresh meshq-bench-XXXXXX in the current
  // directory (the disk being measured, unlike a /tmp that may be tmpfs).
  std::string dir;
  bool send = true, check = true, consume = true;
  bool drop_caches = false;
  bool direct_io = false;          // meshq's StoreOptions::direct_io
  uint32_t block_size = 0;         // meshq's StoreOptions::block_size; 0 = its default
  bool reference_machine = false;  // cgroup limits of the contest's machine; implies direct_io
  std::string json_path;
  std::vector<StoreKind> stores = {StoreKind::kMeshq};
  bool limits = false;
  int limit_seconds = 3;  // per fio job
  int repeat = 1;         // runs per store (fresh store each); the report gives medians
  bool keep = false;
  FaultKind fault = FaultKind::kNone;
  bool help = false;
};

// Sets the scale of a named profile. InvalidArgument for an unknown name.
Status ApplyProfile(const std::string& name, BenchConfig* config);
// Parses meshq-bench's arguments (argv without the program name). The profile is applied first,
// then every other flag. InvalidArgument names the bad flag or value.
Status ParseBenchConfig(const std::vector<std::string>& args, BenchConfig* config);
// The --help text.
std::string BenchUsage();

// Bytes of disk a store needs for the workload (with headroom), for the free-space check.
uint64_t EstimateDiskBytes(const BenchConfig& config, StoreKind kind);

}  // namespace meshq::bench
