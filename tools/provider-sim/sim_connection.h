// SimConnection: one Dubbo client connection to the simulator: reads frames, answers heartbeats
// at once, runs hash calls through the limiter and a latency timer, batches answers into writes.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "call_limiter.h"
#include "latency_model.h"
#include "sim_server.h"

namespace meshq::provider_sim {

class SimConnection : public std::enable_shared_from_this<SimConnection> {
 public:
  SimConnection(boost::asio::ip::tcp::socket socket, CallLimiter* limiter,
                const LatencyModel* latency, SimCounters* counters, std::size_t max_body);

  void Start() { Read(); }

 private:
  void Read();
  // Decodes every complete frame in in_; false when the stream is corrupt (close it).
  bool HandleInput();
  void HandleRequest(std::uint64_t id, bool twoway, std::string_view body);
  // Queues bytes and starts a write unless one is in flight (answers batch while it is).
  void Send(std::string_view bytes);
  void Write();

  boost::asio::ip::tcp::socket socket_;
  CallLimiter* limiter_;
  const LatencyModel* latency_;
  SimCounters* counters_;
  std::size_t max_body_;
  std::string in_;
  std::size_t in_used_ = 0;
  std::string pending_;  // answers waiting for the next write
  std::string writing_;  // the write in flight
  bool closed_ = false;
};

}  // namespace meshq::provider_sim
