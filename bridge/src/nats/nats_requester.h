// NatsRequester: RpcRequester over NATS JetStream. A call is a message in the request stream
// (subject "rpc.req.<service>", Nats-Msg-Id = the request id, so a retry within the stream's
// duplicate window is stored once); its reply is published by the responder into the reply
// stream under "rpc.rep.<client id>.<request id>", which this requester subscribes to (the
// stream keeps it for Collect after a restart).
//
// Before a call to a service not seen live for a while, one probe ("rpc.probe.<service>", core
// NATS) asks whether any responder is subscribed; none, and no responder heartbeat within the
// grace period, fails the calls waiting on the probe with kNoResponders. A request whose publish
// was not acknowledged (a node lost, a timeout) is published again with the same id. A duplicate
// acknowledgement (the request was stored before: a retry) fetches the stored reply.
//
// Runs on its io thread; every nats.c call goes through its NatsLink's thread.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "meshq/bridge/call_table.h"
#include "meshq/bridge/rpc_backend.h"
#include "nats/nats_link.h"

namespace meshq::bridge::nats {

class NatsRequester final : public RpcRequester,
                            public std::enable_shared_from_this<NatsRequester> {
 public:
  static std::shared_ptr<NatsRequester> Create(boost::asio::io_context& io,
                                               RpcClientOptions options, NatsConfig config);
  ~NatsRequester() override;

  void Start() override;
  void Shutdown() override;
  uint64_t Call(std::string_view service, std::string_view payload, const CallOptions& options,
                Callback done) override;
  void Collect(uint64_t request_id, std::chrono::milliseconds timeout, Callback done) override;
  size_t pending() const override { return calls_.size(); }
  const std::string& reply_queue() const override { return reply_prefix_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Pending {
    std::vector<Callback> waiters;
    Clock::time_point deadline;
    std::string service;  // empty for Collect
    std::string request;  // encoded, attempt rewritten per send
    uint32_t attempts = 0;
    bool acked = false;             // the request stream holds it
    Clock::time_point resend_at{};  // publish again then (its ack failed)
    std::string stored_reply;       // a reply subject to look in (a duplicate's), if any
    Clock::time_point next_lookup{};
  };
  struct ServiceState {
    Clock::time_point live_until{};  // no probe needed before then
    bool probing = false;
    uint64_t probe = 0;  // the one in flight
    Clock::time_point probe_deadline{};
    std::vector<uint64_t> waiting;  // calls held for the probe's answer
  };

  NatsRequester(boost::asio::io_context& io, RpcClientOptions options, NatsConfig config);
  Status Subscribe(NatsLink& link);
  void Send(uint64_t id);
  void Publish(uint64_t id);
  void Probe(const std::string& service);
  void OnProbe(uint64_t probe, bool live);
  void OnBeat(const std::string& service, bool recent);
  void ServiceLive(ServiceState& state, Clock::time_point until);
  void OnAck(const PubAck& ack);
  // Looks for id's stored reply under `subject`, or under the reply subject the stored request
  // at `request_sequence` names (when not 0).
  void LookUpReply(uint64_t id, uint64_t request_sequence, std::string subject);
  void OnReplyBytes(const std::string& bytes, bool delivered);
  void ArmSweep();
  void Sweep();

  boost::asio::io_context& io_;
  const RpcClientOptions options_;
  const NatsConfig config_;
  const std::string reply_prefix_;
  std::unique_ptr<NatsLink> link_;
  std::string probe_inbox_;  // where probes are answered ("<inbox>.<probe number>")
  bool subscribed_ = false;  // the link thread's
  // The io thread's.
  boost::asio::steady_timer sweep_timer_;
  CallTable<Pending> calls_;
  std::multimap<Clock::time_point, uint64_t> resends_;  // requests to publish again
  std::multimap<Clock::time_point, uint64_t> lookups_;  // stored replies to look for again
  std::unordered_map<std::string, ServiceState> services_;
  std::unordered_map<uint64_t, std::string> probes_;  // probe number -> service
  uint64_t next_probe_ = 0;
  bool shut_down_ = false;
  uint64_t id_state_;
};

}  // namespace meshq::bridge::nats
