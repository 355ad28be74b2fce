// DubboClient: the provider-agent's Invoker for its local Dubbo provider. A few persistent Dubbo 2
// connections (hessian2), calls multiplexed by request id, writes batched per event-loop turn,
// heartbeats sent on idle connections and answered for the provider, connections reopened at
// once when they close and with backoff only while connecting keeps failing.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <random>
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
    // After a failed connect the next attempt waits this long, doubling per consecutive failure
    // up to max_reconnect_backoff, each pause spread by +-50% (so the agents' threads do not
    // reconnect in step); calls arriving during the pause fail fast as not executed. A
    // connection that worked (carried a call, received something or stayed up a second) and
    // closed is reopened at once; one dropped before that counts as a failed connect.
    std::chrono::milliseconds reconnect_backoff{100};
    std::chrono::milliseconds max_reconnect_backoff{5000};
    // A heartbeat (two-way event) goes out on a connection that received or sent nothing for
    // this long, as Dubbo's own consumer does (its default); nothing received for
    // heartbeat_misses intervals closes the connection (Dubbo's idle timeout) and a new one is
    // opened. Zero: no heartbeats.
    std::chrono::milliseconds heartbeat_interval{60000};
    int heartbeat_misses = 3;
  };

  DubboClient(boost::asio::io_context& io, Options options);
  ~DubboClient() override;

  // Results: kOk with the answer text ("null" for null), kProviderError for exceptions and error
  // statuses, kTimeout, kBadRequest for arguments that cannot be encoded, kNotExecuted when the
  // provider is unreachable or refused the call (thread pool exhausted), kLost when the
  // connection died after the call was written. A call made while a connection is being opened
  // waits for it (and fails as not executed if that connect fails).
  void Invoke(CallRequest request, CallCallback done) override;
  size_t pending() const;
  // Fails the waiting calls and closes every connection; no new connection is opened.
  void Close();

 private:
  struct Waiting {
    CallRequest request;
    CallCallback done;
  };
  DubboConnection* PickConnected();
  bool AnyConnecting() const;
  // Opens a connection in every empty slot.
  void Fill();
  void OnUp(DubboConnection* conn);
  void OnDown(DubboConnection* conn, bool worked, const std::string& why);
  std::chrono::milliseconds NextBackoff();
  void FailWaiting(const std::string& why);
  std::string Name() const;

  boost::asio::io_context& io_;
  const Options options_;
  std::vector<std::shared_ptr<DubboConnection>> connections_;
  size_t next_ = 0;
  std::deque<Waiting> waiting_;  // calls made while no connection was up
  int failed_connects_ = 0;      // since a connection last worked
  Clock::time_point next_attempt_{};
  std::string last_error_;
  boost::asio::steady_timer retry_timer_;
  std::minstd_rand jitter_;
  bool closed_ = false;
  std::shared_ptr<uint64_t> next_id_;  // request ids, unique across this client's connections
  // Cleared on destruction so callbacks of connections that outlive the client do nothing.
  std::shared_ptr<DubboClient*> self_;
};

}  // namespace meshq::agent
