// BenchConfig: profiles and flag parsing for meshq-bench.
#include "bench_config.h"

#include <string_view>

#include "meshq/flags.h"
#include "meshq/options.h"

namespace meshq::bench {
namespace {

struct Profile {
  const char* name;
  uint32_t queues;
  uint64_t messages;
};

// default: about a minute on 2 cores, fio included (README's main command).
constexpr Profile kProfiles[] = {
    {"smoke", 2000, 200000},
    {"default", 100000, 30000000},
    {"large", 1000000, 200000000},
    {"contest", 1000000, 2000000000},
};

// "a,b,c" -> {"a", "b", "c"}; an empty item stays (and is then rejected by name).
std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    items.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

Status ParsePhases(const std::string& text, BenchConfig* config) {
  config->send = config->check = config->consume = false;
  for (const std::string& phase : SplitCommas(text)) {
    bool* enabled = phase == "send"      ? &config->send
                    : phase == "check"   ? &config->check
                    : phase == "consume" ? &config->consume
                                         : nullptr;
    if (!enabled) {
      return Status::InvalidArgument("unknown phase '" + phase + "' (send, check, consume)");
    }
    *enabled = true;
  }
  return Status::OK();
}

Status ParseStores(const std::string& text, BenchConfig* config) {
  config->stores.clear();
  for (const std::string& name : SplitCommas(text)) {
    if (name != "meshq" && name != "rocksdb") {
      return Status::InvalidArgument("unknown store '" + name + "' (meshq, rocksdb)");
    }
    config->stores.push_back(name == "meshq" ? StoreKind::kMeshq : StoreKind::kRocksdb);
  }
  return Status::OK();
}

// Declares meshq-bench's flags, bound to *config (whose values are the defaults) and *profile.
void DeclareFlags(FlagSet* flags, BenchConfig* config, std::string* profile) {
  flags->Custom(
      "profile", "P", *profile,
      [profile](std::string_view v) {
        BenchConfig scratch;
        Status s = ApplyProfile(std::string(v), &scratch);
        if (s.ok()) *profile = v;
        return s;
      },
      "smoke (2k queues, 200k msgs) | default (100k, 30M; ~1 min on 2 cores)\n"
      "| large (1M, 200M) | contest (1M, 2e9)");
  flags->Count<uint32_t>("queues", &config->workload.queues, 1, UINT32_MAX,
                         "number of queues; overrides the profile's");
  flags->Count<uint64_t>("messages", &config->workload.messages, 0, uint64_t{1} << 48,
                         "messages sent, 10k / 2.5M / 1e6 ok; overrides the profile's");
  flags->Int("threads", &config->threads, 1, 1024, "threads per phase");
  flags->Int<uint64_t>("seed", &config->seed, 0, UINT64_MAX, "content seed");
  flags->Int<uint32_t>("min-size", &config->min_size, 0, kMaxMessageSize, "smallest message");
  flags->Int<uint32_t>("max-size", &config->max_size, 0, kMaxMessageSize, "largest message");
  flags->Custom(
      "phases", "LIST", "send,check,consume",
      [config](std::string_view v) { return ParsePhases(std::string(v), config); },
      "phases to run; check/consume alone need a store kept by --keep");
  flags->Count<uint32_t>("consume-batch", &config->workload.consume_batch, 1, 100000,
                         "messages per consume Get");
  flags->Custom(
      "store", "LIST", "meshq",
      [config](std::string_view v) { return ParseStores(std::string(v), config); },
      "meshq | rocksdb | meshq,rocksdb (both, and their ratios)");
  flags->String("dir", &config->dir,
                "where the data goes (default: ./meshq-bench-XXXXXX, removed at the end)", "D");
  flags->Bool("keep", &config->keep, "keep the data");
  flags->Int("repeat", &config->repeat, 1, 100,
             "run each store N times (a fresh store each time); report medians");
  flags->Bool("drop-caches", &config->drop_caches,
              "drop the page cache between phases (drop_caches as root, else fadvise)");
  flags->Bool("direct-io", &config->direct_io,
              "open meshq with StoreOptions::direct_io (O_DIRECT segment I/O)");
  flags->Int<uint32_t>("block-size", &config->block_size, 0, 1u << 20,
                       "meshq's StoreOptions::block_size (a multiple of 1024; 0 = its default),\n"
                       "for A/B runs of the block size");
  flags->Bool("reference-machine", &config->reference_machine,
              "run inside cgroup v1 limits of the contest's machine: 8 GiB of memory\n"
              "(page cache included), the data disk throttled to 200 MB/s and 10k IOPS\n"
              "for reads and writes; implies --direct-io; root only; prints each phase's\n"
              "disk I/O and the best published entry's rates");
  flags->Bool("limits", &config->limits,
              "run bench/disk_limit.sh (fio) on the same filesystem first and print\n"
              "each phase as a ratio of the matching limit");
  flags->Int("limit-seconds", &config->limit_seconds, 1, 600, "seconds per fio job");
  flags->String("json", &config->json_path, "write the results as JSON too", "FILE");
  flags->Custom(
      "inject-fault", "K", "",
      [config](std::string_view v) {
        return ParseFaultKind(v, &config->fault)
                   ? Status::OK()
                   : Status::InvalidArgument("unknown fault '" + std::string(v) +
                                             "' (flip, truncate, swap, drop)");
      },
      "self-test: damage one Get answer (flip|truncate|swap|drop); the run must fail");
}

FlagSet BenchFlagSet() {
  return FlagSet("meshq-bench",
                 "The contest's three-phase workload (send, index check, consume), every message\n"
                 "verified byte-exact, beside the disk's limits (fio) and a RocksDB peer.\n"
                 "Exit status: 0 all verified, 1 a mismatch or store error, 2 bad usage or not\n"
                 "enough disk.");
}

}  // namespace

Status ApplyProfile(const std::string& name, BenchConfig* config) {
  for (const Profile& p : kProfiles) {
    if (name == p.name) {
      config->profile = name;
      config->workload.queues = p.queues;
      config->workload.messages = p.messages;
      return Status::OK();
    }
  }
  return Status::InvalidArgument("unknown profile '" + name + "' (smoke, default, large, contest)");
}

Status ParseBenchConfig(const std::vector<std::string>& args, BenchConfig* config) {
  std::string profile = "default";
  FlagSet flags = BenchFlagSet();
  DeclareFlags(&flags, config, &profile);
  Status s = flags.Parse(args);
  config->help = flags.help();
  if (!s.ok() || config->help) return s;
  // The profile sets the scale; --queues and --messages override it whatever their order.
  const uint32_t queues = config->workload.queues;
  const uint64_t messages = config->workload.messages;
  s = ApplyProfile(profile, config);
  if (flags.given("queues")) config->workload.queues = queues;
  if (flags.given("messages")) config->workload.messages = messages;
  if (!s.ok()) return s;
  // A scale other than the profile's is not that profile any more; say so in the report.
  BenchConfig profile_scale;
  ApplyProfile(profile, &profile_scale);
  if (config->workload.queues != profile_scale.workload.queues ||
      config->workload.messages != profile_scale.workload.messages) {
    config->profile = "custom";
  }
  if (config->reference_machine) {
    // Buffered writes reach the disk through the kernel's writeback threads, which a cgroup v1
    // throttle does not see: only direct I/O is throttled.
    config->direct_io = true;
    for (StoreKind kind : config->stores) {
      if (kind != StoreKind::kMeshq) {
        return Status::InvalidArgument(
            "--reference-machine runs --store meshq only: RocksDB writes through the page "
            "cache, whose writeback the cgroup v1 throttle does not see");
      }
    }
  }
  if (config->min_size > config->max_size) {
    return Status::InvalidArgument("--min-size " + std::to_string(config->min_size) +
                                   " is above --max-size " + std::to_string(config->max_size));
  }
  if (config->workload.messages / config->workload.queues >= kMaxMessagesPerQueue) {
    return Status::InvalidArgument("--messages: more than " + std::to_string(kMaxMessagesPerQueue) +
                                   " per queue");
  }
  return Status::OK();
}

uint64_t EstimateDiskBytes(const BenchConfig& config, StoreKind kind) {
  const double mean = (static_cast<double>(config.min_size) + config.max_size) / 2;
  const double messages = static_cast<double>(config.workload.messages);
  // meshq: a length prefix per message and block headers, blocks padded to 1 KiB units (~15%).
  // RocksDB: an 8-byte key and ~12 bytes of SST entry overhead, then up to 2x while compacting.
  const double bytes =
      kind == StoreKind::kMeshq ? messages * (mean + 4) * 1.15 : messages * (mean + 20) * 2.0;
  return static_cast<uint64_t>(bytes) + (64u << 20);
}

std::string BenchUsage() {
  BenchConfig config;
  std::string profile = config.profile;
  ApplyProfile(profile, &config);  // so --queues and --messages show the default profile's
  FlagSet flags = BenchFlagSet();
  DeclareFlags(&flags, &config, &profile);
  return flags.Usage();
}

}  // namespace meshq::bench
