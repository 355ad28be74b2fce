// NatsCluster: a real 3-node NATS JetStream cluster for a test (tools/nats.sh, Debian's
// nats-server), on loopback ports of its own, in a temporary directory that outlives restarts.
// Every node is stopped by its pid; the destructor stops what is still running.
#pragma once

#include <signal.h>

#include <cstdint>
#include <string>

#include "meshq/bridge/rpc_backend.h"

namespace meshq::bridge::testing {

class NatsCluster {
 public:
  NatsCluster();
  ~NatsCluster();

  // Starts the three nodes (again, after Stop, on the same ports and stores) and waits until
  // JetStream answers. False (with a test failure) when it does not in time.
  bool Start();
  void Stop();
  // Sends `sig` to node n (1..3) and waits for its exit / starts it again.
  bool KillNode(int n, int sig = SIGKILL);
  bool StartNode(int n);

  const NatsConfig& config() const { return config_; }
  // "nats://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3", for the tools' --mq-url.
  std::string url() const;

 private:
  bool Script(const std::string& command, const std::string& node = "");

  std::string dir_;
  uint16_t base_port_ = 0;
  NatsConfig config_;
};

// True when this build has the NATS backend and nats-server is installed.
bool NatsAvailable();

}  // namespace meshq::bridge::testing
