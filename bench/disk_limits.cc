// DiskLimits: runs fio through bench/disk_limit.sh and reads its machine-readable line.
#include "disk_limits.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>

namespace meshq::bench {
namespace {

constexpr std::string_view kPrefix = "MESHQ_DISK_LIMITS ";

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

Status ParseDiskLimitsLine(std::string_view line, DiskLimits* limits) {
  if (line.substr(0, kPrefix.size()) != kPrefix) {
    return Status::InvalidArgument("not a MESHQ_DISK_LIMITS line");
  }
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(line.substr(kPrefix.size()), ec);
  if (ec || !v.is_object()) return Status::InvalidArgument("MESHQ_DISK_LIMITS: bad JSON");
  const boost::json::object& o = v.as_object();
  auto number = [&](const char* key, double* out) {
    const boost::json::value* f = o.if_contains(key);
    if (!f || !f->is_number()) return false;
    *out = f->to_number<double>();
    return true;
  };
  double threads = 0;
  if (!number("seq_write_MBps", &limits->seq_write_mbps) ||
      !number("seq_read_MBps", &limits->seq_read_mbps) ||
      !number("rand_read_iops", &limits->rand_read_iops) ||
      !number("rand_read_MBps", &limits->rand_read_mbps) || !number("threads", &threads)) {
    return Status::InvalidArgument("MESHQ_DISK_LIMITS: a figure is missing");
  }
  limits->threads = static_cast<int>(threads);
  const boost::json::value* fs = o.if_contains("fs");
  limits->fs = fs && fs->is_string() ? std::string(fs->as_string()) : "";
  return Status::OK();
}

Status MeasureDiskLimits(const std::string& script, const std::string& dir, int threads,
                         int seconds, DiskLimits* limits) {
  const std::string command = "bash " + ShellQuote(script) + " --dir " + ShellQuote(dir) +
                              " --threads " + std::to_string(threads) + " --runtime " +
                              std::to_string(seconds) + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return Status::IOError("popen " + script);
  std::string line, last;
  char buf[512];
  while (std::fgets(buf, sizeof(buf), pipe)) {
    line += buf;
    if (line.empty() || line.back() != '\n') continue;
    std::fputs(line.c_str(), stderr);
    line.pop_back();
    if (line.rfind(kPrefix, 0) == 0) last = line;
    line.clear();
  }
  const int rc = ::pclose(pipe);
  if (rc != 0) return Status::IOError(script + " failed (status " + std::to_string(rc) + ")");
  if (last.empty()) return Status::IOError(script + " printed no MESHQ_DISK_LIMITS line");
  return ParseDiskLimitsLine(last, limits);
}

std::string DiskLimitScript() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path beside = exe.parent_path() / "disk_limit.sh";
    if (std::filesystem::exists(beside, ec)) return beside.string();
  }
  return MESHQ_BENCH_SOURCE_DIR "/disk_limit.sh";
}

}  // namespace meshq::bench
