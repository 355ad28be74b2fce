// NatsLink: one connection to a NATS JetStream cluster, and the one thread that makes every
// nats.c call that may block (connecting, JetStream API requests, publishes, acks), so that an
// io thread never does: io threads hand it tasks (Post), which run there in order. What nats.c
// delivers (messages, publish acks, connection changes) arrives on nats.c's own threads; the
// owners hand it on to their io thread.
//
// Names: requests are stored in stream <R> ("rpc.req.<service>"), replies in <P>
// ("rpc.rep.<client id>.<request id hex>"), responders' heartbeats in <B> ("rpc.beat.<service>",
// the last one per service); "rpc.probe.<service>" is answered by every live responder (core
// NATS, not stored). Layouts: docs/nats-backend.md.
#pragma once

#include <nats/nats.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "meshq/bridge/rpc_backend.h"
#include "meshq/status.h"

namespace meshq::bridge::nats {

inline constexpr const char* kRequestStream = "MESHQ_RPC_REQ";
inline constexpr const char* kReplyStream = "MESHQ_RPC_REP";
inline constexpr const char* kBeatStream = "MESHQ_RPC_BEAT";

std::string RequestSubject(std::string_view service);
std::string ReplyPrefix(std::string_view client_id);  // "rpc.rep.<client id>"
std::string ReplySubject(std::string_view reply_prefix, uint64_t request_id);
std::string ProbeSubject(std::string_view service);
std::string BeatSubject(std::string_view service);
// The request stream's durable consumer of a service (no '.' allowed in consumer names).
std::string ConsumerName(std::string_view service);
// A subject token or dotted name NATS accepts: not empty, no spaces, '*', '>' or empty tokens.
bool ValidSubjectName(std::string_view name);
std::string HexId(uint64_t id);

// The outcome of one asynchronous JetStream publish.
struct PubAck {
  uint64_t id = 0;  // the Nats-Msg-Id it was published with
  bool ok = false;
  bool duplicate = false;  // the stream already held a message with this id
  uint64_t sequence = 0;   // its sequence in the stream (the earlier one's, for a duplicate)
  std::string error;
};

// Deleter for a natsMsg held past its callback.
struct NatsMsgFree {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using NatsMsgPtr = std::shared_ptr<natsMsg>;
NatsMsgPtr HoldMsg(natsMsg* m);

class NatsLink {
 public:
  struct Options {
    NatsConfig config;
    std::string name;                            // the connection's name, for the servers
    std::function<void(bool up)> on_connection;  // a nats.c thread
    std::function<void(const PubAck&)> on_ack;   // a nats.c thread
    // On the link thread, once connected with the streams in place (again after each failed
    // attempt until it returns OK): subscriptions that need JetStream's API.
    std::function<Status(NatsLink&)> on_ready;
  };

  // Starts the thread, which connects (retrying in the background while no server answers).
  explicit NatsLink(Options options);
  // Close() if not done, then waits for the thread.
  ~NatsLink();

  // Runs `task` on the link thread, after the tasks posted before it, once the link is ready
  // (connected, streams in place, on_ready done). The task is given the link: it may run while
  // the link is being destroyed (the tasks posted before Close), when the owner's pointer to
  // the link may be null already.
  using Task = std::function<void(NatsLink&)>;
  void Post(Task task);
  // Waits for the async publishes in flight (bounded), then closes the connection on the link
  // thread; tasks posted after this do not run. Returns at once.
  void Close();

  // Takes ownership of the message; runs on a nats.c thread.
  using MsgHandler = std::function<void(natsMsg* msg)>;

  // The link thread only.
  natsConnection* connection() const { return nc_; }
  // A core NATS subscription (in queue group `queue` unless null). The handler runs until
  // Close, never after the link is gone.
  Status Subscribe(const std::string& subject, const char* queue, MsgHandler handler);
  jsCtx* js() const { return js_; }
  // Publishes `data` to `subject` with Nats-Msg-Id = HexId(id); the outcome goes to on_ack.
  natsStatus PublishAsync(const std::string& subject, std::string_view data, uint64_t id);
  // The last stored message of `subject` in `stream` (nullptr when none or unreachable).
  NatsMsgPtr LastMessage(const char* stream, const std::string& subject);
  // The message at `sequence` of `stream` (nullptr when none or unreachable).
  NatsMsgPtr MessageAt(const char* stream, uint64_t sequence);
  int replicas() const;

 private:
  void Run();
  // Runs `task` on the link thread after `delay`, ready or not.
  void RetryAfter(std::chrono::milliseconds delay, std::function<void()> task);
  void Connect();
  void BecomeReady();
  Status EnsureStreams();
  struct Sub {
    NatsLink* link = nullptr;
    MsgHandler handler;
    natsSubscription* sub = nullptr;
    bool complete = false;  // guarded by link->mu_
  };
  Sub* NewSub(MsgHandler handler);
  Status Track(Sub* sub, natsStatus s, const std::string& subject);
  void CloseSubscriptions();
  static void OnMsg(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
  static void OnSubComplete(void* closure);
  static void OnAck(jsCtx* js, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure);
  static void OnConnected(natsConnection* nc, void* closure);
  static void OnDisconnected(natsConnection* nc, void* closure);
  static void OnClosed(natsConnection* nc, void* closure);

  const Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_: the owners' tasks, the link's own (run before it is ready too), timers.
  std::deque<Task> tasks_;
  std::deque<std::function<void()>> own_tasks_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> timers_;
  bool closing_ = false;
  bool ready_ = false;  // written by the link thread under mu_
  // When BecomeReady last said why it retries (link thread only): once every few seconds.
  std::chrono::steady_clock::time_point last_not_ready_log_{};
  bool closed_ = false;  // the connection's closed callback ran; mu_
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::list<Sub> subs_;  // link thread (complete flags: mu_)
  std::thread thread_;
};

// The link options of an owner (a requester or responder) on `io`: its connection changes go to
// `on_connection` (may be empty) and its publish acks to `(owner->*on_ack)`, both on `io` and only
// while the owner lives. `on_ready` is left to the owner.
template <typename Owner>
NatsLink::Options OwnerLinkOptions(std::weak_ptr<Owner> owner, boost::asio::io_context& io,
                                   const NatsConfig& config, std::string name,
                                   std::function<void(bool)> on_connection,
                                   void (Owner::*on_ack)(const PubAck&)) {
  NatsLink::Options o;
  o.config = config;
  o.name = std::move(name);
  o.on_connection = [owner, io = &io, on_connection](bool up) {
    if (!on_connection) return;
    boost::asio::post(*io, [owner, up, on_connection] {
      if (owner.lock()) on_connection(up);
    });
  };
  o.on_ack = [owner, io = &io, on_ack](const PubAck& ack) {
    boost::asio::post(*io, [owner, ack, on_ack] {
      if (auto self = owner.lock()) ((*self).*on_ack)(ack);
    });
  };
  return o;
}

}  // namespace meshq::bridge::nats
