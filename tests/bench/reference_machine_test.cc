// meshq-bench --reference-machine end to end: the run happens inside cgroup v1 groups with the
// contest machine's limits, reports the I/O they saw, and leaves no group behind — after a
// normal run, after SIGINT, and (removed by the next run) after SIGKILL. Not root: exit 2.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "skip_or_fail.h"
#include "temp_dir.h"

namespace meshq::bench {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The memory and blkio groups a meshq-bench of pid `pid` creates (nested in this process's
// groups, which the bench inherits).
std::string GroupOf(const std::string& controller, pid_t pid) {
  std::ifstream in("/proc/self/cgroup");
  std::string group = "/";
  for (std::string line; std::getline(in, line);) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (line.substr(a + 1, b - a - 1) == controller) group = line.substr(b + 1);
  }
  return "/sys/fs/cgroup/" + controller + (group == "/" ? "" : group) + "/meshq-bench-" +
         std::to_string(pid);
}

bool HaveCgroupV1() {
  return ::geteuid() == 0 && fs::exists("/sys/fs/cgroup/memory/memory.limit_in_bytes") &&
         fs::exists("/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device");
}

// Starts meshq-bench with `args`, its output in `log`.
pid_t StartBench(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    FILE* out = std::freopen(log.c_str(), "w", stdout);
    if (out == nullptr || dup2(fileno(stdout), 2) < 0) _exit(127);
    std::vector<char*> argv;
    std::string binary = MESHQ_BENCH_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int WaitFor(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// Waits (up to 30 s) until `path` exists; false if the child exited first.
bool AwaitGroup(const std::string& path, pid_t child) {
  for (int i = 0; i < 3000; ++i) {
    if (fs::exists(path + "/cgroup.procs") &&
        Slurp(path + "/cgroup.procs").find(std::to_string(child)) != std::string::npos) {
      return true;
    }
    if (waitpid(child, nullptr, WNOHANG) == child) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// A run long enough to be caught inside its groups (the send phase alone takes seconds).
std::vector<std::string> LongRun(const TempDir& dir) {
  return {"--profile",          "smoke", "--messages", "20M", "--dir", dir.path() + "/data",
          "--reference-machine"};
}

void ExpectLimitsIn(const std::string& memory, const std::string& blkio) {
  EXPECT_EQ(std::stoull(Slurp(memory + "/memory.limit_in_bytes")), uint64_t{8} << 30);
  for (const char* file : {"read_bps_device", "write_bps_device"}) {
    EXPECT_NE(Slurp(blkio + "/blkio.throttle." + file).find(" 200000000"), std::string::npos)
        << file;
  }
  for (const char* file : {"read_iops_device", "write_iops_device"}) {
    EXPECT_NE(Slurp(blkio + "/blkio.throttle." + file).find(" 10000"), std::string::npos) << file;
  }
}

TEST(ReferenceMachine, RunsThePhasesInsideTheLimitsAndRemovesItsGroups) {
  if (!HaveCgroupV1()) MESHQ_SKIP_OR_FAIL("needs root and cgroup v1 memory and blkio");
  TempDir dir;
  const std::string json = dir.path() + "/result.json";
  const pid_t pid = StartBench({"--profile", "smoke", "--messages", "50k", "--dir",
                                dir.path() + "/data", "--reference-machine", "--json", json},
                               dir.path() + "/out.log");
  const int status = WaitFor(pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Slurp(dir.path() + "/out.log");
  EXPECT_FALSE(fs::exists(GroupOf("memory", pid)));
  EXPECT_FALSE(fs::exists(GroupOf("blkio", pid)));

  const boost::json::object root = boost::json::parse(Slurp(json)).as_object();
  EXPECT_TRUE(root.at("direct_io").as_bool());
  const boost::json::object& ref = root.at("reference_machine").as_object();
  EXPECT_EQ(ref.at("memory_cgroup").as_string(), GroupOf("memory", pid));
  EXPECT_EQ(ref.at("blkio_cgroup").as_string(), GroupOf("blkio", pid));
  EXPECT_EQ(ref.at("memory_limit_bytes").to_number<uint64_t>(), uint64_t{8} << 30);
  const std::string device(ref.at("device").as_string());
  EXPECT_EQ(ref.at("read_bps_device").as_string(), device + " 200000000");
  EXPECT_EQ(ref.at("write_bps_device").as_string(), device + " 200000000");
  EXPECT_EQ(ref.at("read_iops_device").as_string(), device + " 10000");
  EXPECT_EQ(ref.at("write_iops_device").as_string(), device + " 10000");
  // The cgroup saw the store's I/O: the send phase's writes, the reads of the others (direct
  // I/O: nothing is served from a page cache).
  const boost::json::array& phases =
      root.at("runs").as_array()[0].as_object().at("phases").as_array();
  ASSERT_EQ(phases.size(), 3u);
  const auto io = [&](size_t i, const char* key) {
    return phases[i].as_object().at("device_io").as_object().at(key).to_number<uint64_t>();
  };
  EXPECT_GT(io(0, "write_bytes"), uint64_t{50000} * 40);
  EXPECT_GT(io(1, "read_ios"), 0u);
  EXPECT_GT(io(2, "read_ios"), 0u);
  const std::string out = Slurp(dir.path() + "/out.log");
  EXPECT_NE(out.find("best published"), std::string::npos) << out;
  EXPECT_NE(out.find("msgs a read"), std::string::npos) << out;
}

TEST(ReferenceMachine, InterruptedRunRemovesItsGroups) {
  if (!HaveCgroupV1()) MESHQ_SKIP_OR_FAIL("needs root and cgroup v1 memory and blkio");
  TempDir dir;
  const pid_t pid = StartBench(LongRun(dir), dir.path() + "/out.log");
  const std::string memory = GroupOf("memory", pid), blkio = GroupOf("blkio", pid);
  const bool inside = AwaitGroup(memory, pid) && AwaitGroup(blkio, pid);
  if (inside) ExpectLimitsIn(memory, blkio);
  kill(pid, SIGINT);
  const int status = WaitFor(pid);
  ASSERT_TRUE(inside) << Slurp(dir.path() + "/out.log");
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) << status;
  EXPECT_FALSE(fs::exists(memory));
  EXPECT_FALSE(fs::exists(blkio));
}

TEST(ReferenceMachine, GroupsOfAKilledRunAreRemovedByTheNextRun) {
  if (!HaveCgroupV1()) MESHQ_SKIP_OR_FAIL("needs root and cgroup v1 memory and blkio");
  TempDir dir;
  const pid_t pid = StartBench(LongRun(dir), dir.path() + "/out.log");
  const std::string memory = GroupOf("memory", pid), blkio = GroupOf("blkio", pid);
  const bool inside = AwaitGroup(memory, pid) && AwaitGroup(blkio, pid);
  kill(pid, SIGKILL);
  WaitFor(pid);
  ASSERT_TRUE(inside) << Slurp(dir.path() + "/out.log");
  EXPECT_TRUE(fs::exists(memory)) << "SIGKILL leaves them (nothing can run on it)";
  fs::remove_all(dir.path() + "/data");
  const pid_t next = StartBench({"--profile", "smoke", "--messages", "10k", "--phases", "send",
                                 "--dir", dir.path() + "/data", "--reference-machine"},
                                dir.path() + "/next.log");
  const int status = WaitFor(next);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Slurp(dir.path() + "/next.log");
  EXPECT_FALSE(fs::exists(memory));
  EXPECT_FALSE(fs::exists(blkio));
  EXPECT_NE(Slurp(dir.path() + "/next.log").find("left by a killed run"), std::string::npos);
}

// Not root (here: root dropping to nobody, or a developer's own account): a clear error, exit 2.
TEST(ReferenceMachine, WithoutRootIsAClearUsageError) {
  TempDir dir;
  fs::permissions(dir.path(), fs::perms::all);
  const std::string log = dir.path() + "/out.log";
  std::string command = std::string(MESHQ_BENCH_BINARY) + " --profile smoke --messages 10k --dir " +
                        dir.path() + "/data --reference-machine > " + log + " 2>&1";
  if (::geteuid() == 0) {
    command = "setpriv --reuid=65534 --regid=65534 --clear-groups sh -c '" + command + "'";
  }
  const int rc = std::system(command.c_str());
  const std::string out = Slurp(log);
  ASSERT_TRUE(WIFEXITED(rc)) << out;
  EXPECT_EQ(WEXITSTATUS(rc), 2) << out;
  EXPECT_NE(out.find("--reference-machine: needs root"), std::string::npos) << out;
}

}  // namespace
}  // namespace meshq::bench
