// NatsResponder: RpcResponder over NATS JetStream. Every responder of a service subscribes, in
// the queue group "rpc", to the service's durable push consumer of the request stream, so each
// request is delivered to one of them; each answers the service's probes and publishes its
// heartbeat. A request is acknowledged (explicit ack) once its reply is stored in the reply
// stream; one not acknowledged within the consumer's ack wait (this responder died, its ack was
// lost) is delivered again, maybe to another responder.
//
// Per request: past its deadline, dropped unexecuted; its reply remembered here (a
// redelivery), that reply again; delivered before and its reply stored already (by another
// responder), acked unrun; otherwise the handler runs. At most max_in_flight run at once; the
// rest wait here in delivery order (JetStream pushes up to the consumer's max ack pending).
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
  bool consumer_subscribed_ = false;  // the link thread's
  bool probe_subscribed_ = false;     // the link thread's
  // The io thread's.
  boost::asio::steady_timer sweep_timer_;
  std::unordered_map<uint64_t, NatsMsgPtr> executing_;  // request id -> its delivery
  std::deque<Delivery> waiting_;                        // delivered beyond max_in_flight
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
