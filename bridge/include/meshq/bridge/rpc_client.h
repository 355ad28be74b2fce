// RpcClient: the requester side of request-reply over the broker. A call is a message in the
// service's request queue; its reply comes back through this client's own reply queue, which the
// client long-polls (the broker pushes replies as they are stored). Pending calls live in a
// table keyed by request id with a per-call deadline; a sweeper fails the expired ones.
//
// Guarantees: a call is answered exactly once (reply, or an error). Retries reuse the request id,
// so the broker stores a retried request once and answers a retry of a settled call with the
// stored reply. With no live responder for the service the call fails at once with
// kNoResponders. A client started with the id of an earlier one collects that one's replies
// (see Collect) while their deadlines last.
//
// Runs on the one thread of the io_context it is given; call it and get callbacks there.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "meshq/bridge/broker_client.h"
#include "meshq/bridge/call_table.h"
#include "meshq/bridge/rpc_message.h"
#include "meshq/bridge/rpc_requester.h"

namespace meshq::bridge {

struct RpcClientOptions {
  BrokerAddress broker;
  // Names the reply queue ("rpc.rep.<client_id>"); unique per live client instance.
  std::string client_id;
  // When the broker acknowledges a request. kWritten (or kSynced): a broker kill -9 or restart
  // loses no acknowledged request, so only unacknowledged ones are sent again after a
  // reconnect; kSynced also survives the broker machine's crash, at an fdatasync per group
  // commit. kStored: the broker may lose acknowledged requests when it dies, so every
  // unanswered request is sent again after a reconnect (the dedupe window runs each once).
  PutDurability request_durability = PutDurability::kWritten;
  std::chrono::milliseconds sweep_interval{5};
  uint32_t reply_batch = 256;
  // Told (on the client's thread) each time its broker connection comes up or goes down.
  std::function<void(bool up)> on_connection;
};

class RpcClient final : public RpcRequester, public std::enable_shared_from_this<RpcClient> {
 public:
  static std::shared_ptr<RpcClient> Create(boost::asio::io_context& io, RpcClientOptions options);
  void Start() override;
  // Fails pending calls with kBrokerError and closes the connection.
  void Shutdown() override;

  // Sends `payload` to `service`; `done` runs exactly once. Returns the request id.
  uint64_t Call(std::string_view service, std::string_view payload, const CallOptions& options,
                Callback done) override;
  // Waits up to `timeout` for the reply to `request_id`, sent earlier by an instance with this
  // client id (e.g. before a restart); kTimedOut when none arrives.
  void Collect(uint64_t request_id, std::chrono::milliseconds timeout, Callback done) override;

  size_t pending() const override { return calls_.size(); }
  const std::string& reply_queue() const override { return reply_queue_; }

 private:
  struct Pending {
    std::vector<Callback> waiters;
    std::chrono::steady_clock::time_point deadline;
    std::string service;  // empty for Collect
    std::string request;  // encoded request, attempt field rewritten per send
    uint32_t attempts = 0;
    bool acked = false;  // the broker holds the request
  };

  RpcClient(boost::asio::io_context& io, RpcClientOptions options);
  // Queues a request; the requests queued before the io thread gets back to its queue (calls
  // started by one batch of replies' callbacks, or by requests arriving in one poll) go out
  // together, one PUT per service.
  void SendRequest(uint64_t id);
  void SendRequests(const std::string& service, const std::vector<uint64_t>& ids);
  void OnConnection(bool up);
  // Keeps kMaxReplyFetches reply fetches in flight.
  void FetchReplies();
  void FetchReplyBatch();
  // `delivered`: the reply came from this client's reply queue as it was stored (not an orphan
  // kept from before, nor a stored reply fetched because the request was already settled), so
  // its age is the reply hop's.
  void OnReply(const RpcReply& reply, bool delivered = false);
  void FetchStoredReply(uint64_t id, std::string_view queue, uint64_t offset);
  void Complete(uint64_t id, CallResult result);
  void ArmSweep();
  void Sweep();
  uint64_t NewRequestId();

  boost::asio::io_context& io_;
  const RpcClientOptions options_;
  const std::string reply_queue_;
  std::shared_ptr<BrokerClient> broker_;
  std::unordered_map<std::string, std::vector<uint64_t>> queued_;  // request ids by service
  bool send_posted_ = false;  // the send of queued_ is posted and has not run yet
  boost::asio::steady_timer sweep_timer_;
  CallTable<Pending> calls_;
  int fetches_ = 0;  // reply fetches in flight
  bool shut_down_ = false;
  uint64_t id_state_;
};

}  // namespace meshq::bridge
