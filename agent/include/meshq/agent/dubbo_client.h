// DubboClient: the provider-agent's Invoker for its local Dubbo provider. A few persistent Dubbo 2
// connections (hessian2), calls multiplexed by request id, writes batched per event-loop turn,
// heartbeats from the provider answered.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "meshq/agent/call.h"

namespace meshq::agent {

class DubboConnection;

class DubboClient : public Invoker {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 20880;
    int connections = 1;  // per I/O thread
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds reconnect_pause{
        200};  // calls fail fast for this long after a failure
  };

  DubboClient(boost::asio::io_context& io, Options options);
  ~DubboClient() override;

  // Results: kOk with the answer text ("null" for null), kProviderError for exceptions and error
  // statuses, kTimeout, kBadRequest for arguments that cannot be encoded, kNotExecuted when the
  // provider is unreachable or refused the call (thread pool exhausted), kLost when the
  // connection died after the call was written.
  void Invoke(CallRequest request, CallCallback done) override;
  size_t pending() const;
  void Close();

 private:
  DubboConnection* Pick();

  boost::asio::io_context& io_;
  const Options options_;
  std::vector<std::shared_ptr<DubboConnection>> connections_;
  size_t next_ = 0;
  Clock::time_point down_until_{};
  uint64_t next_id_ = 1;  // request ids, unique across this client's connections
};

}  // namespace meshq::agent
