// NatsCluster: a real 3-node NATS JetStream cluster for a test (tools/nats.sh, Debian's
// nats-server), on loopback ports of its own, in a temporary directory that outlives restarts.
// Every node is stopped by its pid; the destructor stops what is still running.
//
// Its ports: a block reserved for the cluster's lifetime by a lock file every NatsCluster of the
// machine takes (test processes run side by side), and checked free. A program that does not
// take the locks may still bind one before the nodes do: the first Start then moves the cluster
// to another block (config() and url() change), a few times at most.
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
  // The first Start's moves to another block (a port of the block was taken).
  int moves() const { return moves_; }
  void Stop();
  // Sends `sig` to node n (1..3) and waits for its exit / starts it again.
  bool KillNode(int n, int sig = SIGKILL);
  bool StartNode(int n);

  const NatsConfig& config() const { return config_; }
  // "nats://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3", for the tools' --mq-url.
  std::string url() const;
  // "nats://127.0.0.1:Pn": node n (1..3) alone.
  std::string node_url(int n) const;

 private:
  // Runs tools/nats.sh; its exit code (-1: killed), its output in *out.
  int Script(const std::string& command, const std::string& node, std::string* out);
  // The same, and any exit code but 0 fails the test.
  bool Script(const std::string& command, const std::string& node = "");
  // Reserves a free block other than the one held (released), sets the ports from it.
  void TakePortBlock();

  std::string dir_;
  uint16_t base_port_ = 0;
  int lock_fd_ = -1;  // the block's lock file, held open (flock) while the cluster lives
  bool started_ = false;
  int moves_ = 0;
  NatsConfig config_;
};

// True when this build has the NATS backend and nats-server is installed.
bool NatsAvailable();

class IoThread;
// Starts a requester `client_id` on `config` (on `io`), waits (30 s at most) until it is up
// (connected, with the streams, which it creates when missing), then shuts it down and drops
// it. True when it came up.
bool ARequesterComesUp(IoThread& io, const NatsConfig& config, const std::string& client_id);

}  // namespace meshq::bridge::testing
