// NatsCluster: tools/nats.sh on a temporary directory and a port range of this process.
#include "nats_cluster.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "broker_process.h"

namespace meshq::bridge::testing {

namespace {

constexpr int kBlockPorts = 30;  // tools/nats.sh's client, route and monitor ports of 3 nodes
constexpr int kLowestPort = 10000;

bool PortFree(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool free = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return free;
}

// Tests run as processes side by side, each with its own cluster: a block of ports below the
// kernel's ephemeral range (any outgoing connection of a test beside may take a port in it),
// chosen by pid and checked free.
uint16_t FreePortBlock() {
  int ephemeral_low = 32768;
  if (FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(f, "%d", &ephemeral_low) != 1) ephemeral_low = 32768;
    std::fclose(f);
  }
  const int blocks = std::max(1, (ephemeral_low - kLowestPort) / kBlockPorts);
  for (int k = 0; k < blocks; ++k) {
    const int base = kLowestPort + ((getpid() + k) % blocks) * kBlockPorts;
    bool free = true;
    for (int p = base; p < base + kBlockPorts && free; ++p) free = PortFree(p);
    if (free) return static_cast<uint16_t>(base);
  }
  return static_cast<uint16_t>(kLowestPort + (getpid() % blocks) * kBlockPorts);
}

}  // namespace

NatsCluster::NatsCluster() {
  char tmpl[] = "/tmp/meshq-nats-test-XXXXXX";
  dir_ = mkdtemp(tmpl);
  base_port_ = FreePortBlock();
  for (int n = 0; n < 3; ++n) {
    config_.servers.push_back("nats://127.0.0.1:" + std::to_string(base_port_ + n));
  }
  config_.replicas = 3;
}

NatsCluster::~NatsCluster() {
  Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string NatsCluster::url() const {
  std::string out = "nats://";
  for (int n = 0; n < 3; ++n) {
    if (n) out += ",";
    out += "127.0.0.1:" + std::to_string(base_port_ + n);
  }
  return out;
}

bool NatsCluster::Script(const std::string& command, const std::string& node) {
  std::vector<std::string> argv = {"/bin/bash", MESHQ_NATS_SH, command, dir_};
  if (command == "start") argv.push_back(std::to_string(base_port_));
  if (!node.empty()) argv.push_back(node);
  std::string out;
  const int rc = RunProgram(argv, &out, std::chrono::seconds(40));
  EXPECT_EQ(rc, 0) << "tools/nats.sh " << command << " " << node << ": " << out;
  return rc == 0;
}

bool NatsCluster::Start() { return Script("start"); }
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

bool NatsAvailable() {
#if MESHQ_HAVE_NATS
  return std::system("command -v nats-server >/dev/null 2>&1") == 0;
#else
  return false;
#endif
}

}  // namespace meshq::bridge::testing
