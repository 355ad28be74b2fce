// Report: fixed-width table and JSON over the same figures.
#include "report.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <fstream>

#include "meshq/options.h"
#include "progress_meter.h"

namespace meshq::bench {
namespace {

std::string Format(const char* fmt, double a) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, a);
  return buf;
}

std::string Micros(uint64_t nanos) { return Format("%.1f", static_cast<double>(nanos) / 1e3); }

std::string Mb(uint64_t bytes) { return Format("%.0f", static_cast<double>(bytes) / 1e6); }

const PhaseResult* FindPhase(const StoreRun& run, Phase phase) {
  for (const PhaseResult& p : run.phases) {
    if (p.phase == phase) return &p;
  }
  return nullptr;
}

double PerSecond(double n, double seconds) { return seconds > 0 ? n / seconds : 0; }

// Messages served per read the disk did (check, consume; the send phase reads nothing of its
// own); 0 when it read nothing.
double MessagesPerReadIo(const PhaseResult& p) {
  return p.phase != Phase::kSend && p.device_io && p.device_io->read_ios > 0
             ? static_cast<double>(p.messages) / static_cast<double>(p.device_io->read_ios)
             : 0;
}

void PrintReference(const ReferenceReport& r, std::ostream& out) {
  const ReferenceLimits& l = r.limits;
  char line[512];
  std::snprintf(
      line, sizeof(line),
      "reference machine (cgroup v1): memory %.2f GiB (memsw %s), disk %s throttled "
      "to read %s B/s, write %s B/s, read %s IOPS, write %s IOPS; direct I/O\n"
      "  cgroup peak memory %.2f GiB (page cache included), limit hit %llu times\n",
      static_cast<double>(l.memory_limit_bytes) / (1u << 30),
      l.memsw_limit_bytes
          ? Format("%.2f GiB", static_cast<double>(l.memsw_limit_bytes) / (1u << 30)).c_str()
          : "not accounted",
      l.device.c_str(), l.read_bps.substr(l.read_bps.find(' ') + 1).c_str(),
      l.write_bps.substr(l.write_bps.find(' ') + 1).c_str(),
      l.read_iops.substr(l.read_iops.find(' ') + 1).c_str(),
      l.write_iops.substr(l.write_iops.find(' ') + 1).c_str(),
      static_cast<double>(r.peak_memory_bytes) / (1u << 30),
      static_cast<unsigned long long>(r.memory_limit_hits));
  out << line;
}

// The cgroup's disk I/O per phase, as rates over the phase.
void PrintDeviceIo(const StoreRun& run, std::ostream& out) {
  char line[256];
  std::snprintf(line, sizeof(line), "%-8s %11s %10s %11s %10s %11s %13s\n", "disk I/O", "read MB/s",
                "read IOPS", "write MB/s", "write IOPS", "KiB a read", "msgs a read");
  out << line;
  for (const PhaseResult& p : run.phases) {
    if (!p.device_io) continue;
    const DeviceIo& io = *p.device_io;
    const double kib_a_read =
        io.read_ios ? static_cast<double>(io.read_bytes) / static_cast<double>(io.read_ios) / 1024
                    : 0;
    std::snprintf(
        line, sizeof(line), "%-8s %11.1f %10.0f %11.1f %10.0f %11.1f %13.1f\n", PhaseName(p.phase),
        PerSecond(static_cast<double>(io.read_bytes), p.seconds) / 1e6,
        PerSecond(static_cast<double>(io.read_ios), p.seconds),
        PerSecond(static_cast<double>(io.write_bytes), p.seconds) / 1e6,
        PerSecond(static_cast<double>(io.write_ios), p.seconds), kib_a_read, MessagesPerReadIo(p));
    out << line;
  }
}

void PrintBestPublished(const StoreRun& run, std::ostream& out) {
  char line[256];
  out << "beside the best published contest run (2e9 messages, 4 cores, 8 GB, 200 MB/s SSD; "
         "docs/BENCHMARKS.md):\n";
  std::snprintf(line, sizeof(line), "%-8s %14s %14s %8s\n", "phase", "msgs/s here", "published",
                "ratio");
  out << line;
  for (const PublishedPhase& b : kBestPublished) {
    const PhaseResult* p = FindPhase(run, b.phase);
    if (!p) continue;
    const double theirs = b.messages / b.seconds;
    std::snprintf(line, sizeof(line), "%-8s %14.0f %14.0f %7.2fx\n", PhaseName(b.phase),
                  p->MessagesPerSecond(), theirs, p->MessagesPerSecond() / theirs);
    out << line;
  }
}

}  // namespace

double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double load = 0;
  in >> load;
  return load;
}

uint64_t StoreRun::TotalMessages() const {
  uint64_t n = 0;
  for (const PhaseResult& p : phases) n += p.messages;
  return n;
}

double StoreRun::TotalSeconds() const {
  double s = 0;
  for (const PhaseResult& p : phases) s += p.seconds;
  return s;
}

double StoreRun::Score() const {
  if (median_score >= 0) return median_score;
  const double s = TotalSeconds();
  return s > 0 ? static_cast<double>(TotalMessages()) / s : 0;
}

StoreRun MedianRun(std::vector<StoreRun> runs) {
  if (runs.size() == 1) return std::move(runs[0]);
  auto median_of = [&](auto key) {
    std::vector<size_t> order(runs.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return key(runs[a]) < key(runs[b]); });
    return order[order.size() / 2];
  };
  StoreRun median;
  median.store = runs[0].store;
  median.fault = runs[0].fault;
  // Phases: only those every run completed.
  size_t phases = runs[0].phases.size();
  for (const StoreRun& r : runs) phases = std::min(phases, r.phases.size());
  for (size_t p = 0; p < phases; ++p) {
    const size_t m = median_of([p](const StoreRun& r) { return r.phases[p].MessagesPerSecond(); });
    median.phases.push_back(runs[m].phases[p]);
  }
  median.median_score = runs[median_of([](const StoreRun& r) { return r.Score(); })].Score();
  median.data_bytes =
      runs[median_of([](const StoreRun& r) { return static_cast<double>(r.data_bytes); })]
          .data_bytes;
  for (const StoreRun& r : runs) {
    median.mismatches += r.mismatches;
    for (const std::string& m : r.mismatch_reports) median.mismatch_reports.push_back(m);
    if (median.status.ok() && !r.status.ok()) median.status = r.status;
  }
  median.repetitions = std::move(runs);
  return median;
}

double LimitRatio(const PhaseResult& phase, const DiskLimits& limits) {
  switch (phase.phase) {
    case Phase::kSend:
      return limits.seq_write_mbps > 0 ? phase.MegabytesPerSecond() / limits.seq_write_mbps : 0;
    case Phase::kCheck:
      return limits.rand_read_iops > 0 && phase.seconds > 0
                 ? phase.operations / phase.seconds / limits.rand_read_iops
                 : 0;
    case Phase::kConsume:
      return limits.seq_read_mbps > 0 ? phase.MegabytesPerSecond() / limits.seq_read_mbps : 0;
  }
  return 0;
}

namespace {
// meshq/RocksDB msgs/s per phase and for the score, when both ran: {name, ratio}.
std::vector<std::pair<std::string, double>> PeerRatios(const BenchReport& report) {
  const StoreRun* meshq = nullptr;
  const StoreRun* rocks = nullptr;
  for (const StoreRun& run : report.runs) {
    (run.store == StoreKind::kMeshq ? meshq : rocks) = &run;
  }
  std::vector<std::pair<std::string, double>> ratios;
  if (!meshq || !rocks) return ratios;
  for (const PhaseResult& p : meshq->phases) {
    const PhaseResult* r = FindPhase(*rocks, p.phase);
    if (r && r->MessagesPerSecond() > 0) {
      ratios.emplace_back(PhaseName(p.phase), p.MessagesPerSecond() / r->MessagesPerSecond());
    }
  }
  if (rocks->Score() > 0) ratios.emplace_back("score", meshq->Score() / rocks->Score());
  return ratios;
}
}  // namespace

void PrintReport(const BenchReport& report, std::ostream& out) {
  const BenchConfig& c = report.config;
  char line[320];
  std::snprintf(line, sizeof(line),
                "\nmeshq-bench, profile %s: %u queues, %s messages of %u-%u bytes, %d threads, "
                "seed %llu\ndata in %s%s\n",
                c.profile.c_str(), c.workload.queues,
                HumanCount(static_cast<double>(c.workload.messages)).c_str(), c.min_size,
                c.max_size, c.threads, static_cast<unsigned long long>(c.seed), report.dir.c_str(),
                report.memory_filesystem ? "  (WARNING: tmpfs/ramfs — this measures memory)" : "");
  out << line;
  std::snprintf(line, sizeof(line), "command: %s\nload average (1 min) %.1f before, %.1f after\n",
                report.command.c_str(), report.load_before, report.load_after);
  out << line;
  if (report.limits) {
    const DiskLimits& l = *report.limits;
    std::snprintf(line, sizeof(line),
                  "disk limits (fio, %s): seq write %.0f MB/s, seq read %.0f MB/s, 4 KiB random "
                  "read %.0f IOPS at %d threads\n",
                  l.fs.c_str(), l.seq_write_mbps, l.seq_read_mbps, l.rand_read_iops, l.threads);
    out << line;
  }
  if (report.reference) PrintReference(*report.reference, out);
  for (const StoreRun& run : report.runs) {
    out << "\nstore: " << StoreKindName(run.store);
    if (!run.repetitions.empty()) {
      out << "  (median of " << run.repetitions.size() << " runs; scores";
      for (const StoreRun& r : run.repetitions) out << " " << Format("%.0f", r.Score());
      out << ")";
    }
    out << "\n";
    std::snprintf(line, sizeof(line), "%-8s %12s %8s %7s %11s %8s %24s %9s %9s %7s  %s\n", "phase",
                  "messages", "seconds", "CPU s", "msgs/s", "MB/s", "latency p50/p99/p999 us",
                  "peak RSS", "written", "limit", "cache");
    out << line;
    for (const PhaseResult& p : run.phases) {
      const std::string latency = Micros(p.latency.Percentile(0.5)) + "/" +
                                  Micros(p.latency.Percentile(0.99)) + "/" +
                                  Micros(p.latency.Percentile(0.999));
      const std::string ratio =
          report.limits ? Format("%.0f%%", 100 * LimitRatio(p, *report.limits)) : "-";
      std::snprintf(line, sizeof(line),
                    "%-8s %12llu %8.2f %7.2f %11.0f %8.1f %24s %7sMB %7sMB %7s  %s\n",
                    PhaseName(p.phase), static_cast<unsigned long long>(p.messages), p.seconds,
                    p.cpu_seconds, p.MessagesPerSecond(), p.MegabytesPerSecond(), latency.c_str(),
                    Mb(p.peak_rss_bytes).c_str(), Mb(p.disk_write_bytes).c_str(), ratio.c_str(),
                    p.cache.c_str());
      out << line;
    }
    const std::string basis = run.repetitions.empty()
                                  ? std::to_string(run.TotalMessages()) + " messages / " +
                                        Format("%.2f", run.TotalSeconds()) + " s"
                                  : "median of the runs' scores";
    std::snprintf(line, sizeof(line),
                  "score %.0f msgs/s (%s); data on disk %s MB; %llu mismatches%s\n", run.Score(),
                  basis.c_str(), Mb(run.data_bytes).c_str(),
                  static_cast<unsigned long long>(run.mismatches),
                  run.status.ok() ? "" : ("; ERROR " + run.status.ToString()).c_str());
    out << line;
    if (!run.fault.empty()) out << "fault injected on purpose: " << run.fault << "\n";
    if (report.reference) {
      PrintDeviceIo(run, out);
      PrintBestPublished(run, out);
    }
  }
  if (report.limits) {
    out << "limit: send = MB/s / fio seq write; check = Gets/s / fio 4 KiB random-read IOPS; "
           "consume = MB/s / fio seq read\n";
  }
  const auto ratios = PeerRatios(report);
  if (!ratios.empty()) {
    out << "\nmeshq / rocksdb (msgs/s):";
    for (const auto& [name, ratio] : ratios) out << "  " << name << " " << Format("%.2fx", ratio);
    out << "\n";
  }
}

namespace {
boost::json::object RunToJson(const StoreRun& run, const BenchReport& report) {
  boost::json::object r;
  r["store"] = StoreKindName(run.store);
  boost::json::array phases;
  for (const PhaseResult& p : run.phases) {
    boost::json::object o;
    o["phase"] = PhaseName(p.phase);
    o["messages"] = p.messages;
    o["operations"] = p.operations;
    o["payload_bytes"] = p.payload_bytes;
    o["seconds"] = p.seconds;
    o["cpu_seconds"] = p.cpu_seconds;
    o["msgs_per_s"] = p.MessagesPerSecond();
    o["MB_per_s"] = p.MegabytesPerSecond();
    o["latency_ns"] = {{"p50", p.latency.Percentile(0.5)},
                       {"p99", p.latency.Percentile(0.99)},
                       {"p999", p.latency.Percentile(0.999)},
                       {"samples", p.latency.count()}};
    o["peak_rss_bytes"] = p.peak_rss_bytes;
    o["peak_rss_phase_only"] = p.peak_rss_own;
    o["disk_write_bytes"] = p.disk_write_bytes;
    o["mismatches"] = p.mismatches;
    o["cache"] = p.cache;
    if (report.limits) o["limit_ratio"] = LimitRatio(p, *report.limits);
    if (p.device_io) {
      const DeviceIo& io = *p.device_io;
      o["device_io"] = {
          {"read_bytes", io.read_bytes},
          {"write_bytes", io.write_bytes},
          {"read_ios", io.read_ios},
          {"write_ios", io.write_ios},
          {"read_MBps", PerSecond(static_cast<double>(io.read_bytes), p.seconds) / 1e6},
          {"write_MBps", PerSecond(static_cast<double>(io.write_bytes), p.seconds) / 1e6},
          {"read_iops", PerSecond(static_cast<double>(io.read_ios), p.seconds)},
          {"write_iops", PerSecond(static_cast<double>(io.write_ios), p.seconds)},
          {"msgs_per_read_io", MessagesPerReadIo(p)}};
    }
    if (!p.status.ok()) o["error"] = p.status.ToString();
    phases.push_back(std::move(o));
  }
  r["phases"] = std::move(phases);
  r["total_messages"] = run.TotalMessages();
  r["total_seconds"] = run.TotalSeconds();
  r["score"] = run.Score();
  r["data_bytes"] = run.data_bytes;
  r["mismatches"] = run.mismatches;
  boost::json::array reports;
  for (const std::string& m : run.mismatch_reports) reports.emplace_back(m);
  r["mismatch_reports"] = std::move(reports);
  r["ok"] = run.ok();
  if (!run.status.ok()) r["error"] = run.status.ToString();
  if (!run.fault.empty()) r["fault_injected"] = run.fault;
  if (!run.repetitions.empty()) {
    boost::json::array reps;
    for (const StoreRun& rep : run.repetitions) reps.push_back(RunToJson(rep, report));
    r["repetitions"] = std::move(reps);
  }
  return r;
}
}  // namespace

boost::json::value ReportToJson(const BenchReport& report) {
  const BenchConfig& c = report.config;
  boost::json::object root;
  root["profile"] = c.profile;
  root["queues"] = c.workload.queues;
  root["messages"] = c.workload.messages;
  root["threads"] = c.threads;
  root["min_size"] = c.min_size;
  root["max_size"] = c.max_size;
  root["seed"] = c.seed;
  root["command"] = report.command;
  root["load_average_before"] = report.load_before;
  root["load_average_after"] = report.load_after;
  root["dir"] = report.dir;
  root["memory_filesystem"] = report.memory_filesystem;
  if (report.limits) {
    const DiskLimits& l = *report.limits;
    root["limits"] = {{"seq_write_MBps", l.seq_write_mbps},
                      {"seq_read_MBps", l.seq_read_mbps},
                      {"rand_read_iops", l.rand_read_iops},
                      {"rand_read_MBps", l.rand_read_mbps},
                      {"threads", l.threads},
                      {"fs", l.fs}};
  }
  root["direct_io"] = c.direct_io;
  root["block_size"] = c.block_size != 0 ? c.block_size : StoreOptions{}.block_size;
  if (report.reference) {
    const ReferenceReport& r = *report.reference;
    const ReferenceLimits& l = r.limits;
    boost::json::object published;
    for (const PublishedPhase& b : kBestPublished) {
      published[PhaseName(b.phase)] = {
          {"messages", b.messages}, {"seconds", b.seconds}, {"msgs_per_s", b.messages / b.seconds}};
    }
    root["reference_machine"] = {{"device", l.device},
                                 {"memory_cgroup", l.memory_cgroup},
                                 {"blkio_cgroup", l.blkio_cgroup},
                                 {"memory_limit_bytes", l.memory_limit_bytes},
                                 {"memsw_limit_bytes", l.memsw_limit_bytes},
                                 {"read_bps_device", l.read_bps},
                                 {"write_bps_device", l.write_bps},
                                 {"read_iops_device", l.read_iops},
                                 {"write_iops_device", l.write_iops},
                                 {"peak_memory_bytes", r.peak_memory_bytes},
                                 {"memory_limit_hits", r.memory_limit_hits},
                                 {"best_published", std::move(published)}};
  }
  boost::json::array runs;
  for (const StoreRun& run : report.runs) runs.push_back(RunToJson(run, report));
  root["runs"] = std::move(runs);
  boost::json::object ratios;
  for (const auto& [name, ratio] : PeerRatios(report)) ratios[name] = ratio;
  if (!ratios.empty()) root["meshq_over_rocksdb"] = std::move(ratios);
  return root;
}

}  // namespace meshq::bench
