// RpcServer: the responder side of request-reply over the broker. Every RpcServer of a service
// consumes the service's request queue in one consumer group, so each request is handled by
// exactly one of them; while one is connected (or left less than the broker's grace period
// ago) callers do not get "no responders".
//
// Every request this server is handed is assigned to its member id at the broker (durably,
// before it arrives), so a redelivery — after the broker restarted, or this server reconnected —
// comes back to this server and no other while the broker's redelivery hold lasts.
// Per request: one past its deadline is dropped unexecuted; one whose reply this server still
// remembers (a redelivery, e.g. after the broker restarted before our ack was durable) gets
// that reply again instead of running twice; otherwise the handler runs and its reply is stored
// in the requester's reply queue (marked as settling the request, so the broker never hands the
// request out again), and then the request is acked.
//
// Runs on the one thread of the io_context it is given; the handler is called there and may
// respond later, from any thread.
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "meshq/bridge/broker_client.h"
#include "meshq/bridge/rpc_message.h"
#include "meshq/bridge/rpc_responder.h"

namespace meshq::bridge {

class RememberedReplies;

struct RpcServerOptions {
  BrokerAddress broker;
  std::string service;
  // Requests handed to the handler and not yet answered, at most.
  uint32_t max_in_flight = 256;
  // When the broker acknowledges a reply: kWritten or kSynced keep the "settled" mark through a
  // broker kill -9 (a redelivery then is not executed again); see RpcClientOptions.
  PutDurability reply_durability = PutDurability::kWritten;
  // Told (on the server's thread) each time its broker connection comes up or goes down.
  std::function<void(bool up)> on_connection;
};

class RpcServer final : public RpcResponder, public std::enable_shared_from_this<RpcServer> {
 public:
  static std::shared_ptr<RpcServer> Create(boost::asio::io_context& io, RpcServerOptions options,
                                           Handler handler);
  ~RpcServer() override;
  void Start() override;
  // Takes no new requests (ones delivered meanwhile are handed back unrun, for another server at
  // once) and lets the running ones answer; in_flight() then falls to 0.
  void Drain() override;
  // Stops taking requests and closes the connection. Requests running and not yet answered may
  // have had their effect: the broker holds them for this server's member id (the redelivery
  // hold) and only then gives them to another server, which drops them once their deadline
  // passed. Drain first to hand the rest over cleanly.
  void Shutdown() override;

  // Stops fetching new requests until Resume (requests delivered meanwhile are handed back,
  // as when draining): the handler's backend is down, let other servers take the calls.
  void Pause() override;
  // Fetches again, keeping at most `max_in_flight` requests (0: the configured maximum); a
  // small number probes a backend that may still be down without taking many calls with it.
  void Resume(uint32_t max_in_flight = 0) override;
  bool paused() const override { return paused_; }
  // The handler did not run `request_id` (its backend refused it before seeing it): the request
  // goes back to the broker unanswered, for another server at once. Its Respond must not be
  // called after this (a later call is ignored).
  void GiveBack(uint64_t request_id) override;

  const Stats& stats() const override { return stats_; }
  size_t in_flight() const override { return executing_.size(); }
  // This server's member id at the broker: the requests it is handed are assigned to it, so
  // a redelivery (broker restart, reconnect) comes back here, where its reply is remembered.
  uint64_t member_id() const { return member_id_; }

 private:
  RpcServer(boost::asio::io_context& io, RpcServerOptions options, Handler handler);
  void OnConnection(bool up);
  void FetchRequests();
  void OnRequest(uint64_t offset, std::string_view stored);
  // Queues a reply; the replies queued before the io thread gets to send them go out as one PUT
  // per reply queue, and the requests they answer are acked together once that PUT is answered.
  void SendReply(uint64_t request_id, uint64_t offset, const std::string& reply_to,
                 const std::string& encoded_reply);
  // Sends what is queued, then fetches more requests if there is room.
  void SendQueuedReplies();
  void Finish(uint64_t request_id, uint64_t offset, ReplyStatus status, std::string payload,
              uint64_t trace_id, uint64_t deadline_us, std::string reply_to);
  void ArmSweep();

  boost::asio::io_context& io_;
  const RpcServerOptions options_;
  const std::string request_queue_;
  const Handler handler_;
  const uint64_t member_id_;
  std::shared_ptr<BrokerClient> broker_;
  boost::asio::steady_timer sweep_timer_;
  std::unordered_map<uint64_t, uint64_t> executing_;  // request id -> its offset
  // The dedupe window: replies given, until their deadlines pass (a sweep visits only what
  // expired: walking every reply at each sweep would cost in proportion to the whole window).
  std::unique_ptr<RememberedReplies> replies_;
  // Requests asked for by the GROUP_FETCHes in flight, and how many those are. Room that frees
  // up while one is in flight is asked for by another: a responder finishing calls faster than
  // one fetch round trip would otherwise idle its capacity between fetches.
  uint32_t requested_ = 0;
  uint32_t fetches_ = 0;
  struct QueuedReplies {
    std::vector<std::pair<uint64_t, std::string>> replies;  // request id, encoded reply
    std::vector<uint64_t> offsets;                          // of the requests answered
  };
  std::unordered_map<std::string, QueuedReplies> queued_;  // by reply queue
  bool send_posted_ = false;  // a SendQueuedReplies is posted and has not run yet
  bool draining_ = false;
  bool paused_ = false;
  uint32_t max_in_flight_;  // options_.max_in_flight, or less while probing (Resume)
  bool shut_down_ = false;
  Stats stats_;
};

}  // namespace meshq::bridge
