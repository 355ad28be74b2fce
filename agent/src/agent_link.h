// AgentLink: one persistent TCP connection from a consumer-agent to a provider-agent (direct
// mode), TLS when its options carry a context. Calls are multiplexed by request id; frames queued
// while a write is in flight, or in the same turn of the event loop, go out together in one write.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "agent_frame.h"
#include "meshq/agent/call.h"
#include "meshq/agent/direct_transport.h"
#include "meshq/tls_stream.h"
#include "pending_calls.h"
#include "stream_buffers.h"

namespace meshq::agent {

class AgentLink : public std::enable_shared_from_this<AgentLink> {
 public:
  using Options = AgentLinkOptions;  // declared with DirectTransport, which takes them

  // Called once when the link stops being usable: `failed` when it broke (refused, reset,
  // silent), false when it ended in order (GoAway drained, Retire()).
  using DownHandler = std::function<void(AgentLink* link, bool failed)>;

  AgentLink(boost::asio::io_context& io, std::string host, uint16_t port, Options options,
            DownHandler on_down);
  ~AgentLink();

  // Starts connecting; calls sent before the connection is up are queued.
  void Start();
  // Sends `request`; `done` runs exactly once (on this thread): the answer, kTimeout at the
  // deadline, kNotExecuted if the link fails before the call reached the socket, kLost after.
  void Send(const CallRequest& request, CallCallback done);
  // Takes no new calls; closes once the pending ones are answered.
  void Retire();
  // Fails every pending call and closes now.
  void Close();

  // True while new calls may be sent (not closed, retired or told to go away).
  bool usable() const { return !closed_ && !draining_; }
  bool connected() const { return connected_; }
  size_t pending() const { return pending_.size(); }

 private:
  void OnConnected(const boost::system::error_code& ec);
  void OnHandshake(const boost::system::error_code& ec);
  void ScheduleFlush();
  void Flush();
  // For the batched writes: whether this link still writes, and what a failed write does.
  bool WritesLive() const { return !closed_ && connected_; }
  void WriteFailed(const boost::system::error_code& ec);
  void Read();
  bool HandleFrames();  // false on a protocol error
  void Tick();
  void Fail(bool failed, const std::string& why);
  void MaybeFinishDrain();

  boost::asio::io_context& io_;
  TlsStream stream_;
  boost::asio::steady_timer timer_;
  const std::string host_;
  const uint16_t port_;
  const Options options_;
  DownHandler on_down_;

  bool connected_ = false;
  bool closed_ = false;
  bool draining_ = false;
  WriteBatch writes_;
  ReadBuffer in_;
  frame::ServiceInterner interner_;
  uint64_t next_id_ = 1;
  uint64_t ping_nonce_ = 0;
  Clock::time_point started_;
  Clock::time_point last_received_;
  PendingCalls pending_;
};

}  // namespace meshq::agent
