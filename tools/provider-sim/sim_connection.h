// SimConnection: one Dubbo client connection to the simulator: reads frames, answers heartbeats
// at once, runs hash calls through the limiter and a latency timer, batches answers into writes,
// and misbehaves as SimFaults asks.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <random>
#include <string>

#include "call_limiter.h"
#include "latency_model.h"
#include "sim_server.h"

namespace meshq::provider_sim {

class SimConnection : public std::enable_shared_from_this<SimConnection> {
 public:
  SimConnection(boost::asio::ip::tcp::socket socket, CallLimiter* limiter,
                const LatencyModel* latency, SimCounters* counters, std::size_t max_body,
                const SimFaults* faults);

  void Start();

 private:
  void Read();
  // Decodes every complete frame in in_; false when the stream is corrupt (close it).
  bool HandleInput();
  void HandleRequest(std::uint64_t id, bool twoway, std::string_view body);
  // Queues bytes and starts a write unless one is in flight (answers batch while it is).
  void Send(std::string_view bytes);
  void Write();
  // Closes the connection as a fault: the calls in flight on it are never answered.
  void CloseOnPurpose();
  void WatchIdle();

  boost::asio::ip::tcp::socket socket_;
  CallLimiter* limiter_;
  const LatencyModel* latency_;
  SimCounters* counters_;
  std::size_t max_body_;
  const SimFaults* faults_;
  boost::asio::steady_timer idle_timer_;
  std::chrono::steady_clock::time_point last_received_;
  std::minstd_rand rng_;
  std::size_t in_flight_ = 0;  // calls received and not answered yet
  std::string in_;
  std::size_t in_used_ = 0;
  std::string pending_;  // answers waiting for the next write
  std::string writing_;  // the write in flight
  bool closed_ = false;
  bool faulted_ = false;  // closed by CloseOnPurpose
};

}  // namespace meshq::provider_sim
