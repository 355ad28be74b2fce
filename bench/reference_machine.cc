// ReferenceMachine: cgroup v1 memory and blkio groups around this process (see the header).
#include "reference_machine.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace meshq::bench {
namespace {

namespace fs = std::filesystem;

constexpr const char* kMemoryRoot = "/sys/fs/cgroup/memory";
constexpr const char* kBlkioRoot = "/sys/fs/cgroup/blkio";
constexpr const char* kGroupPrefix = "meshq-bench-";

Status Invalid(const std::string& why) {
  return Status::InvalidArgument("--reference-machine: " + why);
}

bool ReadFile(const std::string& path, std::string* text) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *text = ss.str();
  return true;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

uint64_t ReadNumber(const std::string& path) {
  std::string text;
  if (!ReadFile(path, &text)) return 0;
  return std::strtoull(text.c_str(), nullptr, 10);
}

Status WriteFile(const std::string& path, const std::string& value) {
  // One write() per value: a cgroup file takes a whole value per write.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError(path, errno);
  const ssize_t n = ::write(fd, value.data(), value.size());
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return Status::IOError(path + " (writing '" + value + "')", n < 0 ? err : EIO);
  }
  return Status::OK();
}

// This process's group in the v1 hierarchy `controller` ("/" at the root), /proc/self/cgroup.
std::string CurrentGroup(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    // "N:controllers:/path", controllers comma-separated.
    const size_t a = line.find(':');
    const size_t b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::stringstream list(line.substr(a + 1, b - a - 1));
    for (std::string c; std::getline(list, c, ',');) {
      if (c == controller) return line.substr(b + 1);
    }
  }
  return "/";
}

std::string GroupPath(const std::string& root, const std::string& group) {
  return group == "/" ? root : root + group;
}

// The whole disk holding `dir` as "MAJ:MIN": throttle rules are per disk, not per partition.
Status DiskOf(const std::string& dir, std::string* device) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Status::IOError(dir, errno);
  std::string dev = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
  const std::string sys = "/sys/dev/block/" + dev;
  std::error_code ec;
  if (major(st.st_dev) == 0 || !fs::exists(sys, ec)) {
    return Invalid(dir + " is on no block device (device " + dev +
                   ": tmpfs, overlay or a network file system?); the blkio throttle needs one");
  }
  if (fs::exists(sys + "/partition", ec)) {
    std::string parent;
    if (!ReadFile(fs::canonical(sys, ec).parent_path().string() + "/dev", &parent)) {
      return Invalid("cannot find the disk of partition " + dev);
    }
    dev = Trim(parent);
  }
  *device = dev;
  return Status::OK();
}

bool ProcessExists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

// Removes the groups that runs killed with SIGKILL left under `parent`.
void RemoveStaleGroups(const std::string& parent) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(kGroupPrefix, 0) != 0 || !e.is_directory(ec)) continue;
    const long pid = std::strtol(name.c_str() + std::strlen(kGroupPrefix), nullptr, 10);
    std::string procs;
    if (pid <= 0 || ProcessExists(static_cast<pid_t>(pid))) continue;
    if (!ReadFile(e.path().string() + "/cgroup.procs", &procs) || !Trim(procs).empty()) continue;
    if (::rmdir(e.path().c_str()) == 0) {
      std::fprintf(stderr, "meshq-bench: removed %s, left by a killed run\n", e.path().c_str());
    }
  }
}

// What the signal handler needs, prepared before it can run (it may only make system calls).
struct SignalCleanup {
  char pid[24] = {};
  size_t pid_len = 0;
  char memory_parent_procs[512] = {}, blkio_parent_procs[512] = {};
  char memory_group[512] = {}, blkio_group[512] = {};
  volatile sig_atomic_t armed = 0;
};
SignalCleanup g_cleanup;

void WriteAll(const char* path, const char* text, size_t len) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t ignored = ::write(fd, text, len);
  (void)ignored;
  ::close(fd);
}

// Removes a group, waiting a little while children (fio) that got the same signal exit.
void RemoveGroup(const char* group) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (::rmdir(group) == 0 || errno == ENOENT) return;
    if (errno != EBUSY) return;
    struct timespec pause = {0, 50'000'000};
    ::nanosleep(&pause, nullptr);
  }
}

void LeaveGroups() {
  WriteAll(g_cleanup.memory_parent_procs, g_cleanup.pid, g_cleanup.pid_len);
  WriteAll(g_cleanup.blkio_parent_procs, g_cleanup.pid, g_cleanup.pid_len);
  RemoveGroup(g_cleanup.memory_group);
  RemoveGroup(g_cleanup.blkio_group);
}

constexpr int kCleanupSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT};

void OnSignal(int sig) {
  if (g_cleanup.armed) {
    g_cleanup.armed = 0;
    LeaveGroups();
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void Copy(char* dst, size_t size, const std::string& src) {
  std::snprintf(dst, size, "%s", src.c_str());
}

}  // namespace

Status ReferenceMachine::Enter(const std::string& data_dir,
                               std::unique_ptr<ReferenceMachine>* out) {
  if (::geteuid() != 0) return Invalid("needs root (it creates cgroups)");
  std::error_code ec;
  if (!fs::exists(std::string(kMemoryRoot) + "/memory.limit_in_bytes", ec) ||
      !fs::exists(std::string(kBlkioRoot) + "/blkio.throttle.read_bps_device", ec)) {
    return Invalid(std::string("needs cgroup v1 memory and blkio hierarchies at ") + kMemoryRoot +
                   " and " + kBlkioRoot + " (with blkio.throttle.*)");
  }
  std::unique_ptr<ReferenceMachine> m(new ReferenceMachine);
  ReferenceLimits& l = m->limits_;
  Status s = DiskOf(data_dir, &l.device);
  if (!s.ok()) return s;

  // The groups nest in the ones this process is in: whatever limits it already has stay.
  const std::string memory_parent = GroupPath(kMemoryRoot, CurrentGroup("memory"));
  const std::string blkio_parent = GroupPath(kBlkioRoot, CurrentGroup("blkio"));
  RemoveStaleGroups(memory_parent);
  RemoveStaleGroups(blkio_parent);
  const std::string name = kGroupPrefix + std::to_string(::getpid());
  l.memory_cgroup = memory_parent + "/" + name;
  l.blkio_cgroup = blkio_parent + "/" + name;

  const std::string pid = std::to_string(::getpid());
  Copy(g_cleanup.pid, sizeof(g_cleanup.pid), pid);
  g_cleanup.pid_len = pid.size();
  Copy(g_cleanup.memory_parent_procs, sizeof(g_cleanup.memory_parent_procs),
       memory_parent + "/cgroup.procs");
  Copy(g_cleanup.blkio_parent_procs, sizeof(g_cleanup.blkio_parent_procs),
       blkio_parent + "/cgroup.procs");
  Copy(g_cleanup.memory_group, sizeof(g_cleanup.memory_group), l.memory_cgroup);
  Copy(g_cleanup.blkio_group, sizeof(g_cleanup.blkio_group), l.blkio_cgroup);

  if (::mkdir(l.memory_cgroup.c_str(), 0755) != 0) return Status::IOError(l.memory_cgroup, errno);
  m->entered_ = true;  // from here on Leave (the destructor) removes what exists
  if (::mkdir(l.blkio_cgroup.c_str(), 0755) != 0) return Status::IOError(l.blkio_cgroup, errno);
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : kCleanupSignals) ::sigaction(sig, &sa, nullptr);
  g_cleanup.armed = 1;

  const std::string memory = std::to_string(kReferenceMemoryBytes);
  s = WriteFile(l.memory_cgroup + "/memory.limit_in_bytes", memory);
  // With swap accounting, memory + swap gets the same bound: nothing is swapped out instead.
  const std::string memsw = l.memory_cgroup + "/memory.memsw.limit_in_bytes";
  const bool has_memsw = fs::exists(memsw, ec);
  if (s.ok() && has_memsw) s = WriteFile(memsw, memory);
  const std::string bps = l.device + " " + std::to_string(kReferenceBytesPerSecond);
  const std::string iops = l.device + " " + std::to_string(kReferenceIops);
  const std::string throttle = l.blkio_cgroup + "/blkio.throttle.";
  if (s.ok()) s = WriteFile(throttle + "read_bps_device", bps);
  if (s.ok()) s = WriteFile(throttle + "write_bps_device", bps);
  if (s.ok()) s = WriteFile(throttle + "read_iops_device", iops);
  if (s.ok()) s = WriteFile(throttle + "write_iops_device", iops);
  if (s.ok()) s = WriteFile(l.memory_cgroup + "/cgroup.procs", pid);
  if (s.ok()) s = WriteFile(l.blkio_cgroup + "/cgroup.procs", pid);
  if (!s.ok()) return s;

  // Read back what the kernel took.
  l.memory_limit_bytes = ReadNumber(l.memory_cgroup + "/memory.limit_in_bytes");
  if (has_memsw) l.memsw_limit_bytes = ReadNumber(memsw);
  std::string text;
  ReadFile(throttle + "read_bps_device", &text);
  l.read_bps = Trim(text);
  ReadFile(throttle + "write_bps_device", &text);
  l.write_bps = Trim(text);
  ReadFile(throttle + "read_iops_device", &text);
  l.read_iops = Trim(text);
  ReadFile(throttle + "write_iops_device", &text);
  l.write_iops = Trim(text);
  *out = std::move(m);
  return Status::OK();
}

ReferenceMachine::~ReferenceMachine() { Leave(); }

void ReferenceMachine::Leave() {
  if (!entered_) return;
  entered_ = false;
  g_cleanup.armed = 0;
  LeaveGroups();
  for (int sig : kCleanupSignals) ::signal(sig, SIG_DFL);
}

DeviceIo ReferenceMachine::ReadIo() const {
  DeviceIo io;
  auto parse = [&](const char* file, uint64_t* read, uint64_t* write) {
    std::ifstream in(limits_.blkio_cgroup + "/" + file);
    // Lines "MAJ:MIN Read N", "MAJ:MIN Write N", ... and a final "Total N".
    for (std::string dev, op; in >> dev;) {
      if (dev == "Total") {
        in >> op;
        continue;
      }
      uint64_t n = 0;
      in >> op >> n;
      if (dev != limits_.device) continue;
      if (op == "Read") *read = n;
      if (op == "Write") *write = n;
    }
  };
  parse("blkio.throttle.io_service_bytes", &io.read_bytes, &io.write_bytes);
  parse("blkio.throttle.io_serviced", &io.read_ios, &io.write_ios);
  return io;
}

uint64_t ReferenceMachine::PeakMemoryBytes() const {
  return ReadNumber(limits_.memory_cgroup + "/memory.max_usage_in_bytes");
}

uint64_t ReferenceMachine::MemoryLimitHits() const {
  return ReadNumber(limits_.memory_cgroup + "/memory.failcnt");
}

}  // namespace meshq::bench
