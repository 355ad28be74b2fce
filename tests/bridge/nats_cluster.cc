// NatsCluster: tools/nats.sh on a temporary directory and a reserved block of ports.
#include "nats_cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>

#include <gtest/gtest.h>

#include "broker_process.h"
#include "io_thread.h"

namespace meshq::bridge::testing {

namespace {

constexpr int kBlockPorts = 30;  // tools/nats.sh's client, route and monitor ports of 3 nodes
constexpr int kLowestPort = 10000;
// tools/nats.sh's exit code when a node could not bind a port of its block.
constexpr int kPortTaken = 3;
constexpr int kMaxMoves = 5;
// The lock files of the blocks in use, one per block, shared by every test process here.
constexpr const char* kLockDir = "/tmp/meshq-nats-ports";

bool PortFree(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  // As nats-server binds (Go sets SO_REUSEADDR): a port left in TIME_WAIT by an earlier cluster
  // of this process is free for it.
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool free = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return free;
}

// The block's lock, taken (an open descriptor), or -1 when another cluster holds it.
int LockBlock(int base) {
  mkdir(kLockDir, 0777);
  chmod(kLockDir, 01777);  // other users' tests share it; fails harmlessly when not ours
  const std::string path = std::string(kLockDir) + "/" + std::to_string(base) + ".lock";
  // Not inherited: the nodes tools/nats.sh starts outlive a crashed test, its lock does not.
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return -1;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int EphemeralLow() {
  int low = 32768;
  if (FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(f, "%d", &low) != 1) low = 32768;
    std::fclose(f);
  }
  return low;
}

}  // namespace

NatsCluster::NatsCluster() {
  char tmpl[] = "/tmp/meshq-nats-test-XXXXXX";
  dir_ = mkdtemp(tmpl);
  TakePortBlock();
}

NatsCluster::~NatsCluster() {
  Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (lock_fd_ >= 0) close(lock_fd_);
}

// Below the kernel's ephemeral range (an outgoing connection of a test beside may take any port
// in it), starting from a block chosen by pid so that test processes spread out.
void NatsCluster::TakePortBlock() {
  const int blocks = std::max(1, (EphemeralLow() - kLowestPort) / kBlockPorts);
  const int held = base_port_;
  bool found = false;
  for (int k = 0; k < blocks && !found; ++k) {
    const int base = kLowestPort + ((getpid() + moves_ + k) % blocks) * kBlockPorts;
    if (base == held) continue;
    const int fd = LockBlock(base);
    if (fd < 0) continue;
    bool free = true;
    for (int p = base; p < base + kBlockPorts && free; ++p) free = PortFree(p);
    if (!free) {
      close(fd);
      continue;
    }
    if (lock_fd_ >= 0) close(lock_fd_);
    lock_fd_ = fd;
    base_port_ = static_cast<uint16_t>(base);
    found = true;
  }
  // None free and unlocked (hardly): the pid's own block, unreserved; Start may still move.
  if (!found) {
    base_port_ = static_cast<uint16_t>(kLowestPort + ((getpid() + moves_) % blocks) * kBlockPorts);
  }
  config_.servers.clear();
  for (int n = 0; n < 3; ++n) {
    config_.servers.push_back("nats://127.0.0.1:" + std::to_string(base_port_ + n));
  }
  config_.replicas = 3;
}

std::string NatsCluster::url() const {
  std::string out = "nats://";
  for (int n = 0; n < 3; ++n) {
    if (n) out += ",";
    out += "127.0.0.1:" + std::to_string(base_port_ + n);
  }
  return out;
}

std::string NatsCluster::node_url(int n) const {
  return "nats://127.0.0.1:" + std::to_string(base_port_ + n - 1);
}

int NatsCluster::Script(const std::string& command, const std::string& node, std::string* out) {
  std::vector<std::string> argv = {"/bin/bash", MESHQ_NATS_SH, command, dir_};
  if (command == "start") argv.push_back(std::to_string(base_port_));
  if (!node.empty()) argv.push_back(node);
  return RunProgram(argv, out, std::chrono::seconds(40), /*with_stderr=*/true);
}

bool NatsCluster::Script(const std::string& command, const std::string& node) {
  std::string out;
  const int rc = Script(command, node, &out);
  EXPECT_EQ(rc, 0) << "tools/nats.sh " << command << " " << node << ": " << out;
  return rc == 0;
}

bool NatsCluster::Start() {
  if (started_) return Script("start");
  for (;;) {
    std::string out;
    const int rc = Script("start", "", &out);
    if (rc == 0) {
      started_ = true;
      return true;
    }
    if (rc != kPortTaken || moves_ == kMaxMoves) {
      ADD_FAILURE() << "tools/nats.sh start (block " << base_port_ << ", after " << moves_
                    << " moves): exit " << rc << ": " << out;
      return false;
    }
    // Before any test used it: the same cluster, afresh on other ports.
    Stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    std::filesystem::create_directory(dir_, ec);
    ++moves_;
    TakePortBlock();
  }
}
void NatsCluster::Stop() { Script("stop"); }
bool NatsCluster::KillNode(int n, int sig) {
  std::vector<std::string> argv = {"/bin/bash", MESHQ_NATS_SH,     "kill-node",
                                   dir_,        std::to_string(n), sigabbrev_np(sig)};
  std::string out;
  const int rc = RunProgram(argv, &out, std::chrono::seconds(20));
  EXPECT_EQ(rc, 0) << out;
  return rc == 0;
}
bool NatsCluster::StartNode(int n) { return Script("start-node", std::to_string(n)); }

bool ARequesterComesUp(IoThread& io, const NatsConfig& config, const std::string& client_id) {
  RpcClientOptions o;
  o.client_id = client_id;
  auto up = std::make_shared<std::promise<void>>();
  o.on_connection = [up, once = std::make_shared<bool>(false)](bool is_up) {
    if (is_up && !*once) *once = true, up->set_value();
  };
  auto r = io.Run([&] {
    auto client = CreateRpcRequester(io.io(), o, config);
    client->Start();
    return client;
  });
  const bool ok = up->get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  io.Run([&] {
    r->Shutdown();
    r.reset();
  });
  return ok;
}

bool NatsAvailable() {
#if MESHQ_HAVE_NATS
  return std::system("command -v nats-server >/dev/null 2>&1") == 0;
#else
  return false;
#endif
}

}  // namespace meshq::bridge::testing
