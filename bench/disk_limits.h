// DiskLimits: the disk's own limits (from bench/disk_limit.sh, fio), so each phase is reported
// as a fraction of what the hardware can do.
#pragma once

#include <string>
#include <string_view>

#include "meshq/status.h"

namespace meshq::bench {

struct DiskLimits {
  double seq_write_mbps = 0;  // MB = 1e6 bytes
  double seq_read_mbps = 0;
  double rand_read_iops = 0;
  double rand_read_mbps = 0;
  int threads = 0;
  std::string fs;
};

// Parses the script's "MESHQ_DISK_LIMITS {json}" line. InvalidArgument when `line` is not one,
// or lacks a figure. Pure.
Status ParseDiskLimitsLine(std::string_view line, DiskLimits* limits);

// Runs `script` on `dir` (echoing its output to stderr) and parses its last limits line.
Status MeasureDiskLimits(const std::string& script, const std::string& dir, int threads,
                         int seconds, DiskLimits* limits);

// disk_limit.sh beside the running executable (the build copies it there), else in the source
// tree this binary was built from.
std::string DiskLimitScript();

}  // namespace meshq::bench
