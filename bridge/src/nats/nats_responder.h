// NatsResponder: RpcResponder over NATS JetStream. The responders of a service share its durable
// pull consumer of the request stream: each asks it (pull requests) for as many requests as it
// has room for and a few more (held until a slot frees), so each request goes to one of them
// and a responder takes little more than it can run. Each answers the service's probes and
// publishes its heartbeat. A request is acknowledged once its reply is stored in the reply stream;
// one not acknowledged within the consumer's ack wait (this responder died, its ack was lost) is
// delivered again, maybe to another responder.
//
// Per request: past its deadline, dropped unexecuted; its reply remembered here (a
// redelivery), that reply again; delivered before and its reply stored already (by another
// responder), acked unrun; otherwise the handler runs, at most max_in_flight at once.
//
// Runs on its io thread; every nats.c call goes through its NatsLink's thread.
#pragma once

#include <boost/asio.hpp>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "meshq/bridge/rpc_backend.h"
#include "nats/nats_link.h"
#include "remembered_replies.h"

namespace meshq::bridge::nats {

class NatsResponder final : public RpcResponder,
                            public std::enable_shared_from_this<NatsResponder> {
 public:
  static std::shared_ptr<NatsResponder> Create(boost::asio::io_context& io,
                                               RpcServerOptions options, NatsConfig config,
                                               Handler handler);
  ~NatsResponder() override;

  void Start() override;
  void Drain() override;
  void Shutdown() override;
  void Pause() override;
  void Resume(uint32_t max_in_flight = 0) override;
  bool paused() const override { return paused_; }
  void GiveBack(uint64_t request_id) override;
  const Stats& stats() const override { return stats_; }
  size_t in_flight() const override { return executing_.size(); }

 private:
  struct Delivery {
    NatsMsgPtr msg;
    uint64_t delivered = 1;  // how many times JetStream delivered it
    bool checked = false;    // a redelivery already looked for in the reply stream
  };

  NatsResponder(boost::asio::io_context& io, RpcServerOptions options, NatsConfig config,
                Handler handler);
  Status Subscribe(NatsLink& link);
  Status EnsureConsumer(NatsLink& link);
  static uint64_t DeliveryCount(const char* ack_subject);
  void OnConnection(bool up);
  // Asks the consumer for as many requests as there is room for (pull requests, answered
  // with requests as they arrive).
  void Pull();
  void PullNow();
  // Requests asked for beyond the free room (held in waiting_ until a slot frees).
  uint32_t Headroom() const;
  void OnPulled();
  void OnPullEnded();
  void ExpirePulls(std::chrono::steady_clock::time_point now);
  void OnRequest(Delivery d);
  void Run(Delivery d, const RpcRequest& r);
  void Finish(uint64_t request_id, ReplyStatus status, std::string payload, uint64_t trace_id,
              uint64_t deadline_us, std::string reply_to);
  void SendReply(uint64_t request_id, NatsMsgPtr request, const std::string& reply_to,
                 const std::string& encoded);
  void OnReplyAck(const PubAck& ack);
  void Ack(NatsMsgPtr msg);
  // Hands it back for redelivery after `delay` (another responder, or this one later).
  void Nak(NatsMsgPtr msg, std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  void HandBackWaiting();
  void StartWaiting();
  void ArmSweep();

  boost::asio::io_context& io_;
  const RpcServerOptions options_;
  const NatsConfig config_;
  const Handler handler_;
  std::unique_ptr<NatsLink> link_;
  bool consumer_ready_ = false;    // the link thread's
  std::string pull_inbox_;         // set on the link thread before the link is ready
  bool probe_subscribed_ = false;  // the link thread's
  // The io thread's.
  boost::asio::steady_timer sweep_timer_;
  std::unordered_map<uint64_t, NatsMsgPtr> executing_;  // request id -> its delivery
  std::deque<Delivery> waiting_;                        // delivered beyond max_in_flight
  struct PullRequest {
    std::chrono::steady_clock::time_point expires;  // here: its server expiry plus a slack
    uint64_t remaining;                             // requests it may still bring
  };
  std::deque<PullRequest> pulls_;  // waiting at the server, oldest first
  uint64_t requested_ = 0;         // sum of their remaining
  bool link_up_ = false;
  bool pull_posted_ = false;  // a PullNow is posted and has not run yet
  struct Answered {
    NatsMsgPtr request;  // acked once the reply is stored
    std::string reply_to;
  };
  std::unordered_map<uint64_t, Answered> answered_;  // replies published, not yet acked
  RememberedReplies replies_;
  std::chrono::steady_clock::time_point next_beat_{};
  bool draining_ = false;
  bool paused_ = false;
  uint32_t max_in_flight_;
  bool shut_down_ = false;
  Stats stats_;
};

}  // namespace meshq::bridge::nats
