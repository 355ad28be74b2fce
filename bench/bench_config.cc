// BenchConfig: profiles and flag parsing for meshq-bench.
#include "bench_config.h"

#include <charconv>
#include <string_view>

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

template <typename T>
Status ParseNumber(const std::string& flag, const std::string& text, T min, T max, T* out) {
  T value{};
  // Accept 1e6-style and k/M/G suffixes for counts, they are easier to read.
  double scale = 1;
  std::string_view digits = text;
  if (!digits.empty()) {
    const char last = digits.back();
    if (last == 'k' || last == 'K') scale = 1e3;
    if (last == 'm' || last == 'M') scale = 1e6;
    if (last == 'g' || last == 'G') scale = 1e9;
    if (scale != 1) digits.remove_suffix(1);
  }
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) {
    double d = 0;
    auto [dptr, dec] = std::from_chars(digits.data(), digits.data() + digits.size(), d);
    if (dec != std::errc() || dptr != digits.data() + digits.size() || d < 0) {
      return Status::InvalidArgument(flag + ": not a number: '" + text + "'");
    }
    value = static_cast<T>(d * scale);
  } else if (scale != 1) {
    value = static_cast<T>(static_cast<double>(value) * scale);
  }
  if (value < min || value > max) {
    return Status::InvalidArgument(flag + ": " + text + " is out of range [" + std::to_string(min) +
                                   ", " + std::to_string(max) + "]");
  }
  *out = value;
  return Status::OK();
}

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
      return Status::InvalidArgument("--phases: unknown phase '" + phase +
                                     "' (send, check, consume)");
    }
    *enabled = true;
  }
  return Status::OK();
}

Status ParseStores(const std::string& text, BenchConfig* config) {
  config->stores.clear();
  for (const std::string& name : SplitCommas(text)) {
    if (name != "meshq" && name != "rocksdb") {
      return Status::InvalidArgument("--store: unknown store '" + name + "' (meshq, rocksdb)");
    }
    config->stores.push_back(name == "meshq" ? StoreKind::kMeshq : StoreKind::kRocksdb);
  }
  return Status::OK();
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
  return Status::InvalidArgument("--profile: unknown profile '" + name +
                                 "' (smoke, default, large, contest)");
}

Status ParseBenchConfig(const std::vector<std::string>& args, BenchConfig* config) {
  std::string profile = "default";
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--profile") profile = args[i + 1];
  }
  Status s = ApplyProfile(profile, config);
  if (!s.ok()) return s;

  for (size_t i = 0; i < args.size() && s.ok(); ++i) {
    const std::string& flag = args[i];
    // Flags without a value.
    if (flag == "--drop-caches") {
      config->drop_caches = true;
      continue;
    }
    if (flag == "--limits") {
      config->limits = true;
      continue;
    }
    if (flag == "--keep") {
      config->keep = true;
      continue;
    }
    if (flag == "--help" || flag == "-h") {
      config->help = true;
      continue;
    }
    if (i + 1 >= args.size()) return Status::InvalidArgument(flag + ": missing value");
    const std::string& value = args[++i];
    if (flag == "--profile") {
      // applied above
    } else if (flag == "--queues") {
      s = ParseNumber<uint32_t>(flag, value, 1, UINT32_MAX, &config->workload.queues);
    } else if (flag == "--messages") {
      s = ParseNumber<uint64_t>(flag, value, 0, uint64_t{1} << 48, &config->workload.messages);
    } else if (flag == "--threads") {
      s = ParseNumber<int>(flag, value, 1, 1024, &config->threads);
    } else if (flag == "--min-size") {
      s = ParseNumber<uint32_t>(flag, value, 0, kMaxMessageSize, &config->min_size);
    } else if (flag == "--max-size") {
      s = ParseNumber<uint32_t>(flag, value, 0, kMaxMessageSize, &config->max_size);
    } else if (flag == "--seed") {
      s = ParseNumber<uint64_t>(flag, value, 0, UINT64_MAX, &config->seed);
    } else if (flag == "--dir") {
      config->dir = value;
    } else if (flag == "--phases") {
      s = ParsePhases(value, config);
    } else if (flag == "--json") {
      config->json_path = value;
    } else if (flag == "--store") {
      s = ParseStores(value, config);
    } else if (flag == "--consume-batch") {
      s = ParseNumber<uint32_t>(flag, value, 1, 100000, &config->workload.consume_batch);
    } else if (flag == "--limit-seconds") {
      s = ParseNumber<int>(flag, value, 1, 600, &config->limit_seconds);
    } else if (flag == "--repeat") {
      s = ParseNumber<int>(flag, value, 1, 100, &config->repeat);
    } else if (flag == "--inject-fault") {
      if (!ParseFaultKind(value, &config->fault)) {
        s = Status::InvalidArgument("--inject-fault: unknown fault '" + value +
                                    "' (flip, truncate, swap, drop)");
      }
    } else {
      s = Status::InvalidArgument("unknown flag '" + flag + "' (see --help)");
    }
  }
  if (!s.ok()) return s;
  // A scale other than the profile's is not that profile any more; say so in the report.
  BenchConfig profile_scale;
  ApplyProfile(profile, &profile_scale);
  if (config->workload.queues != profile_scale.workload.queues ||
      config->workload.messages != profile_scale.workload.messages) {
    config->profile = "custom";
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
  return R"(meshq-bench: the contest's three-phase workload (send, index check, consume), every
message verified byte-exact, beside the disk's limits (fio) and a RocksDB peer.

  --profile P        smoke (2k queues, 200k msgs) | default (100k, 30M; ~1 min on 2 cores)
                     | large (1M, 200M) | contest (1M, 2e9)
  --queues N         number of queues                  --messages N   messages sent (k/M/G ok)
  --threads N        threads per phase (24)            --seed N       content seed (1)
  --min-size N       smallest message (40)             --max-size N   largest message (60)
  --phases LIST      send,check,consume (all); check/consume alone need a store kept by --keep
  --consume-batch N  messages per consume Get (10)
  --store LIST       meshq | rocksdb | meshq,rocksdb (both, and their ratios)
  --dir D            where the data goes (default: ./meshq-bench-XXXXXX, removed at the end)
  --keep             keep the data
  --repeat N         run each store N times (a fresh store each time); report medians (1)
  --drop-caches      drop the page cache between phases (drop_caches as root, else fadvise)
  --limits           run bench/disk_limit.sh (fio) on the same filesystem first and print each
                     phase as a ratio of the matching limit   --limit-seconds N (3 per fio job)
  --json FILE        write the results as JSON too
  --inject-fault K   self-test: damage one Get answer (flip|truncate|swap|drop); the run must fail
Exit status: 0 all verified, 1 a mismatch or store error, 2 bad usage or not enough disk.
)";
}

}  // namespace meshq::bench
