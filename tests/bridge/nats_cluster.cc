// NatsCluster: tools/nats.sh on a temporary directory and a port range of this process.
#include "nats_cluster.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "broker_process.h"

namespace meshq::bridge::testing {

NatsCluster::NatsCluster() {
  char tmpl[] = "/tmp/meshq-nats-test-XXXXXX";
  dir_ = mkdtemp(tmpl);
  // Tests run as processes side by side: each takes its own 30 ports.
  base_port_ = static_cast<uint16_t>(20000 + (getpid() % 1400) * 30);
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
