// SimServer: the simulated Dubbo provider. One io_context per thread; the acceptor hands each
// connection to the next context; calls are delayed by timers (never sleeps) under a shared
// CallLimiter, so slow calls never block heartbeats or other connections.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "call_limiter.h"
#include "faults.h"
#include "latency_model.h"
#include "meshq/status.h"

namespace meshq::provider_sim {

struct SimOptions {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 0;  // 0: pick a free port (read it back with port())
  LatencyDist dist = LatencyDist::kFixed;
  double latency_ms = 50;
  double latency_stddev_ms = -1;  // kNormal; < 0 means latency_ms / 4
  std::size_t capacity = 200;
  int threads = 1;
  std::size_t max_body = 8u << 20;
  SimFaults faults;
};

// Counters shared by all connections (relaxed atomics: read once at exit).
struct SimCounters {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> calls{0};       // hash calls answered
  std::atomic<std::uint64_t> heartbeats{0};  // heartbeat requests answered
  std::atomic<std::uint64_t> rejected{0};    // error/exception answers and undecodable frames
  std::atomic<std::uint64_t> closed{0};      // connections closed on purpose (faults)
  std::atomic<std::uint64_t> dropped{0};     // calls received on those and never answered
};

class SimServer {
 public:
  explicit SimServer(SimOptions options);
  ~SimServer();

  // Binds and listens. IOError when the address is unavailable.
  Status Start();
  // The bound port (after Start).
  std::uint16_t port() const { return port_; }
  // Serves on options.threads threads until Stop(); returns when they have all finished.
  void Run();
  // Thread-safe, idempotent; also safe from a signal handler's asio callback.
  void Stop();
  // The io_context that owns the acceptor: hook signal handling to it.
  boost::asio::io_context& main_context() { return *contexts_[0]; }

  // "calls=... heartbeats=... rejected=... connections=... closed=... dropped=...
  // max_concurrent=... max_queued=..."
  std::string CountersLine() const;

 private:
  void Accept();

  SimOptions options_;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::size_t next_context_ = 0;
  CallLimiter limiter_;
  LatencyModel latency_;
  SimCounters counters_;
};

}  // namespace meshq::provider_sim
