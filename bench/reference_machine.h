// ReferenceMachine: runs this process inside cgroup v1 limits shaped like the contest's machine
// — a memory cgroup of 8 GiB (page cache included) and the data device throttled to 200 MB/s
// and 10k IOPS, reads and writes — and counts the I/O the cgroup issued to that device.
// The groups it creates are removed when it is destroyed, on SIGINT/SIGTERM/SIGHUP/SIGQUIT/
// SIGABRT, and (for a run killed with SIGKILL) by the next run, which removes the groups of
// processes that no longer exist.
//
// cgroup v1's blkio throttle sees only I/O issued by the process's own threads: buffered
// writeback (kernel flusher threads) escapes it, so the store runs with direct I/O in this mode.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "meshq/status.h"

namespace meshq::bench {

// The contest machine's limits.
inline constexpr uint64_t kReferenceMemoryBytes = uint64_t{8} << 30;  // 8 GiB
inline constexpr uint64_t kReferenceBytesPerSecond = 200'000'000;     // 200 MB/s
inline constexpr uint64_t kReferenceIops = 10'000;

// I/O the cgroup issued to the data device (blkio.throttle.io_service_bytes / io_serviced).
struct DeviceIo {
  uint64_t read_bytes = 0, write_bytes = 0;
  uint64_t read_ios = 0, write_ios = 0;
  DeviceIo operator-(const DeviceIo& o) const {
    return {read_bytes - o.read_bytes, write_bytes - o.write_bytes, read_ios - o.read_ios,
            write_ios - o.write_ios};
  }
};

// What the cgroups were set to, read back from their files.
struct ReferenceLimits {
  std::string device;  // MAJ:MIN of the throttled disk
  std::string memory_cgroup, blkio_cgroup;
  uint64_t memory_limit_bytes = 0;
  uint64_t memsw_limit_bytes = 0;  // 0 when the kernel has no memsw accounting
  std::string read_bps, write_bps, read_iops, write_iops;  // "MAJ:MIN value" lines
};

class ReferenceMachine {
 public:
  // Creates the cgroups for the disk holding `data_dir` and moves this process (all its
  // threads; children started later inherit them) into them. InvalidArgument when not root,
  // without cgroup v1 memory and blkio hierarchies, or when no block device holds `data_dir`.
  static Status Enter(const std::string& data_dir, std::unique_ptr<ReferenceMachine>* out);
  ~ReferenceMachine();  // Leave()
  ReferenceMachine(const ReferenceMachine&) = delete;
  ReferenceMachine& operator=(const ReferenceMachine&) = delete;

  const ReferenceLimits& limits() const { return limits_; }
  // The cgroup's I/O to the data device so far.
  DeviceIo ReadIo() const;
  // Peak memory of the cgroup (memory.max_usage_in_bytes: RSS and page cache) and how often it
  // hit its limit (memory.failcnt).
  uint64_t PeakMemoryBytes() const;
  uint64_t MemoryLimitHits() const;
  // Moves this process back to the root groups and removes the groups. Idempotent.
  void Leave();

 private:
  ReferenceMachine() = default;
  ReferenceLimits limits_;
  bool entered_ = false;
};

}  // namespace meshq::bench
