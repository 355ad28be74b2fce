// RpcServer: request long-poll, deadline drops, reply replay, handler dispatch.
#include "meshq/bridge/rpc_server.h"

#include <random>

#include "meshq/bridge/hop_stats.h"
#include "remembered_replies.h"

namespace meshq::bridge {
namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

namespace {
constexpr uint32_t kRequestWaitMs = 1000;
// GROUP_FETCHes one server keeps in flight at most (each parks on the broker when it is idle).
constexpr uint32_t kMaxFetches = 2;
// Replies are remembered this long past their request's deadline (clock skew, late retries).
constexpr auto kReplyMemorySlack = std::chrono::seconds(5);

uint64_t NewMemberId() {
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) id = (uint64_t{rd()} << 32) ^ rd();
  return id;
}
}  // namespace

std::shared_ptr<RpcServer> RpcServer::Create(asio::io_context& io, RpcServerOptions options,
                                             Handler handler) {
  return std::shared_ptr<RpcServer>(new RpcServer(io, std::move(options), std::move(handler)));
}

RpcServer::RpcServer(asio::io_context& io, RpcServerOptions options, Handler handler)
    : io_(io),
      options_(std::move(options)),
      request_queue_(RequestQueueName(options_.service)),
      handler_(std::move(handler)),
      member_id_(NewMemberId()),
      broker_(BrokerClient::Create(io, options_.broker)),
      sweep_timer_(io),
      replies_(std::make_unique<RememberedReplies>()),
      max_in_flight_(options_.max_in_flight) {}

RpcServer::~RpcServer() = default;

void RpcServer::Start() {
  broker_->SetConnectionCallback([weak = weak_from_this()](bool up) {
    if (auto self = weak.lock()) self->OnConnection(up);
  });
  broker_->Start();
  ArmSweep();
}

void RpcServer::Drain() { draining_ = true; }

void RpcServer::Pause() { paused_ = true; }

void RpcServer::Resume(uint32_t max_in_flight) {
  max_in_flight_ =
      max_in_flight == 0 ? options_.max_in_flight : std::min(max_in_flight, options_.max_in_flight);
  paused_ = false;
  FetchRequests();
}

void RpcServer::GiveBack(uint64_t request_id) {
  auto it = executing_.find(request_id);
  if (it == executing_.end()) return;
  const uint64_t offset = it->second;
  executing_.erase(it);
  ++stats_.given_back;
  if (broker_->connected()) broker_->Release(request_queue_, kRpcGroup, {offset});
  FetchRequests();
}

void RpcServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  sweep_timer_.cancel();
  broker_->Close();
}

void RpcServer::OnConnection(bool up) {
  if (options_.on_connection) options_.on_connection(up);
  if (!up) return;  // the fetches in flight failed (and were counted out) before this
  FetchRequests();
}

void RpcServer::FetchRequests() {
  if (fetches_ >= kMaxFetches || draining_ || paused_ || shut_down_ || !broker_->connected()) {
    return;
  }
  const uint64_t taken = executing_.size() + requested_;
  if (taken >= max_in_flight_) return;  // resumed when one finishes
  const auto room = static_cast<uint32_t>(max_in_flight_ - taken);
  requested_ += room;
  ++fetches_;
  broker_->GroupFetch(
      request_queue_, kRpcGroup, room, kRequestWaitMs,
      [weak = weak_from_this(), room](const Status& s, const MessagesReply& reply) {
        auto self = weak.lock();
        if (!self) return;
        self->requested_ -= room;
        --self->fetches_;
        if (!s.ok()) return;  // reconnect restarts the loop
        for (const Message& m : reply.messages) {
          self->OnRequest(m.offset, m.payload);
        }
        // Replies given while the batch was handled were queued: one send.
        if (!self->send_posted_) self->FetchRequests();
      },
      member_id_);
}

void RpcServer::OnRequest(uint64_t offset, std::string_view stored) {
  if (draining_ || paused_) {
    // Handed back unrun, for another server at once (unacked it would be held for this one).
    ++stats_.given_back;
    broker_->Release(request_queue_, kRpcGroup, {offset});
    return;
  }
  RpcRequest r;
  if (!DecodeRpcRequest(stored, &r).ok()) {
    // Not ours to run; acked so it does not block the group's committed offset forever.
    broker_->Ack(request_queue_, kRpcGroup, {offset}, false, {});
    return;
  }
  if (const RememberedReplies::Reply* remembered = replies_->Find(r.request_id)) {
    ++stats_.replayed;
    SendReply(r.request_id, offset, remembered->reply_to, remembered->encoded);
    return;
  }
  // A redelivery of a request still running here: that run's ack covers this same offset.
  if (executing_.count(r.request_id)) return;
  const uint64_t now = UnixMicros();
  if (r.attempt == 1) HopStats().request.Record(now > r.sent_us ? now - r.sent_us : 0);
  if (now > r.deadline_us) {
    ++stats_.expired;
    broker_->Ack(request_queue_, kRpcGroup, {offset}, false, {});
    return;
  }
  executing_.emplace(r.request_id, offset);
  ++stats_.handled;
  RpcCall call{r.request_id,          r.trace_id, r.deadline_us, r.attempt, std::string(r.method),
               std::string(r.payload)};
  Respond respond = [weak = weak_from_this(), ex = io_.get_executor(), id = r.request_id, offset,
                     trace = r.trace_id, deadline = r.deadline_us,
                     reply_to = std::string(r.reply_to)](ReplyStatus status,
                                                         std::string payload) mutable {
    asio::dispatch(ex, [weak, id, offset, trace, deadline, reply_to = std::move(reply_to), status,
                        payload = std::move(payload)]() mutable {
      if (auto self = weak.lock()) {
        self->Finish(id, offset, status, std::move(payload), trace, deadline, std::move(reply_to));
      }
    });
  };
  handler_(call, std::move(respond));
}

void RpcServer::Finish(uint64_t request_id, uint64_t offset, ReplyStatus status,
                       std::string payload, uint64_t trace_id, uint64_t deadline_us,
                       std::string reply_to) {
  if (!executing_.count(request_id)) return;  // given back: another server answers it
  RpcReply reply;
  reply.request_id = request_id;
  reply.trace_id = trace_id;
  reply.deadline_us = deadline_us;
  reply.status = status;
  reply.payload = payload;
  const RememberedReplies::Reply& kept =
      replies_->RememberReply(reply, std::move(reply_to), kReplyMemorySlack);
  executing_.erase(request_id);
  SendReply(request_id, offset, kept.reply_to, kept.encoded);
}

void RpcServer::SendReply(uint64_t request_id, uint64_t offset, const std::string& reply_to,
                          const std::string& encoded_reply) {
  if (!broker_->connected()) return;  // the broker redelivers the request; we replay then
  QueuedReplies& q = queued_[reply_to];
  q.replies.emplace_back(request_id, encoded_reply);
  q.offsets.push_back(offset);
  // Sent after the handlers already due on this thread have run: the replies of one fetched
  // batch, or of asynchronous handlers finishing together (timers expiring in one pass, a burst
  // of upstream answers), share one PUT per reply queue and one ACK.
  if (send_posted_) return;
  send_posted_ = true;
  asio::post(io_, [weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      self->send_posted_ = false;
      self->SendQueuedReplies();
    }
  });
}

void RpcServer::SendQueuedReplies() {
  auto queued = std::move(queued_);
  queued_.clear();
  if (!broker_->connected()) return;  // unacked: redelivered, then replayed; refetched on connect
  const uint8_t flags = kPutFlagReply | DurabilityFlags(options_.reply_durability);
  std::vector<PutMessage> messages;
  for (auto& [reply_to, q] : queued) {
    messages.clear();
    for (const auto& [id, encoded] : q.replies) messages.push_back({id, encoded});
    broker_->Put(reply_to, messages, flags, {},
                 [weak = weak_from_this(), offsets = std::move(q.offsets)](const Status& s,
                                                                           const PutAnswer&) {
                   auto self = weak.lock();
                   if (!self || !s.ok()) return;  // not acked: redelivered, then replayed
                   self->broker_->Ack(self->request_queue_, kRpcGroup, offsets, false, {});
                 });
  }
  FetchRequests();
}

void RpcServer::ArmSweep() {
  if (shut_down_) return;
  sweep_timer_.expires_after(std::chrono::milliseconds(200));
  sweep_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    auto self = weak.lock();
    if (!self) return;
    self->replies_->Expire(SteadyClock::now());
    self->ArmSweep();
  });
}

}  // namespace meshq::bridge
