// RpcClient: request table, reply long-poll, retries on reconnect, deadline sweeping.
#include "meshq/bridge/rpc_client.h"

#include <random>

#include "meshq/bridge/hop_stats.h"
#include "meshq/coding.h"

namespace meshq::bridge {
namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr uint32_t kReplyWaitMs = 1000;

// A message of the reply queue answers call `id` only when the broker stored it from a REPLY
// put settling `id`: the broker lets only the responder handed the request store that, while
// a plain PUT into the queue (or a REPLY with another id) carries whatever payload its writer
// chose.
bool IsReplyTo(const Message& m, uint64_t id) {
  return (m.flags & kMessageFlagReply) && m.dedupe_id == id;
}
// Reply fetches kept in flight. With one, a reply stored while the answer to that fetch is on its
// way here, being handled, or while the next fetch travels back, waits in the broker for it,
// which showed in the reply hop's tail. With two, one is parked at the broker whenever the other
// is answered.
constexpr int kMaxReplyFetches = 2;

}  // namespace

std::shared_ptr<RpcClient> RpcClient::Create(asio::io_context& io, RpcClientOptions options) {
  return std::shared_ptr<RpcClient>(new RpcClient(io, std::move(options)));
}

RpcClient::RpcClient(asio::io_context& io, RpcClientOptions options)
    : io_(io),
      options_(std::move(options)),
      reply_queue_(ReplyQueueName(options_.client_id)),
      broker_(BrokerClient::Create(io, options_.broker)),
      sweep_timer_(io) {
  std::random_device rd;
  id_state_ = (uint64_t{rd()} << 32) ^ rd() ^
              static_cast<uint64_t>(SteadyClock::now().time_since_epoch().count());
}

uint64_t RpcClient::NewRequestId() { return NextRequestId(&id_state_); }

void RpcClient::Start() {
  broker_->SetConnectionCallback([weak = weak_from_this()](bool up) {
    if (auto self = weak.lock()) self->OnConnection(up);
  });
  broker_->Start();
  ArmSweep();
}

void RpcClient::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  sweep_timer_.cancel();
  calls_.FailAll(CallError::kBrokerError, "client shut down");
  broker_->Close();
}

uint64_t RpcClient::Call(std::string_view service, std::string_view payload,
                         const CallOptions& options, Callback done) {
  uint64_t id = options.request_id ? options.request_id : NewRequestId();
  if (shut_down_) {
    done(CallResult{CallError::kBrokerError, "client shut down", id, 0});
    return id;
  }
  switch (calls_.AddCall(id, service, payload, options, reply_queue_, std::move(done))) {
    case CallTable<Pending>::Added::kAnswered:
      return id;
    case CallTable<Pending>::Added::kRetry:
      calls_.Find(id)->acked = false;  // a retry: send again, the broker keeps one copy
      break;
    case CallTable<Pending>::Added::kNew:
      break;
  }
  SendRequest(id);
  return id;
}

void RpcClient::Collect(uint64_t request_id, std::chrono::milliseconds timeout, Callback done) {
  CallResult kept;
  if (calls_.TakeOrphan(request_id, &kept)) return done(std::move(kept));
  bool inserted = false;
  Pending& p = calls_.Add(request_id, std::move(done), SteadyClock::now() + timeout, &inserted);
  if (inserted) p.acked = true;  // nothing to send: only the reply is awaited
  FetchReplies();
}

void RpcClient::SendRequest(uint64_t id) {
  Pending* p = calls_.Find(id);
  if (p == nullptr || p->acked || !broker_->connected()) return;
  // Sent after the handlers already due on this thread have run: calls started together (by the
  // completions of one batch of replies, or by requests arriving in one poll) share one PUT per
  // service.
  queued_[p->service].push_back(id);
  if (send_posted_) return;
  send_posted_ = true;
  asio::post(io_, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self) return;
    self->send_posted_ = false;
    auto queued = std::move(self->queued_);
    self->queued_.clear();
    for (const auto& [service, ids] : queued) self->SendRequests(service, ids);
  });
}

void RpcClient::SendRequests(const std::string& service, const std::vector<uint64_t>& ids) {
  if (!broker_->connected()) return;  // resent on reconnect
  std::vector<uint64_t> sent;
  std::vector<PutMessage> messages;
  for (uint64_t id : ids) {
    Pending* found = calls_.Find(id);
    if (found == nullptr || found->acked) continue;
    Pending& p = *found;
    ++p.attempts;
    EncodeFixed32(p.request.data() + kRpcRequestAttemptOffset, p.attempts);
    sent.push_back(id);
    messages.push_back({id, p.request});
  }
  if (sent.empty()) return;
  uint8_t flags = kPutFlagRequireConsumers | DurabilityFlags(options_.request_durability);
  broker_->Put(RequestQueueName(service), messages, flags, kRpcGroup,
               [weak = weak_from_this(), sent](const Status& s, const PutAnswer& answer) {
                 auto self = weak.lock();
                 if (!self || s.IsUnavailable()) return;  // connection lost: resent on reconnect
                 for (size_t i = 0; i < sent.size(); ++i) {
                   const uint64_t id = sent[i];
                   // Found again: a completion may change the table.
                   Pending* pit = self->calls_.Find(id);
                   if (pit == nullptr) continue;
                   const uint32_t attempts = pit->attempts;
                   if (!s.ok() || (!answer.no_consumers && i >= answer.results.size())) {
                     self->Complete(id, {CallError::kBrokerError,
                                         s.ok() ? "PUT answer without this request" : s.ToString(),
                                         id, attempts});
                   } else if (answer.no_consumers) {
                     self->Complete(id, {CallError::kNoResponders,
                                         "no responders for " + pit->service, id, attempts});
                   } else {
                     pit->acked = true;
                     const PutResult& r = answer.results[i];
                     if (r.outcome == PutOutcome::kReplied) {
                       self->FetchStoredReply(id, r.reply_queue, r.reply_offset);
                     }
                   }
                 }
               });
}

void RpcClient::FetchStoredReply(uint64_t id, std::string_view queue, uint64_t offset) {
  broker_->Get(queue, offset, 1,
               [weak = weak_from_this(), id](const Status& s, const MessagesReply& reply) {
                 auto self = weak.lock();
                 if (!self || !s.ok() || reply.messages.empty()) return;  // the sweeper decides
                 RpcReply r;
                 const Message& m = reply.messages[0];
                 if (IsReplyTo(m, id) && DecodeRpcReply(m.payload, &r).ok() && r.request_id == id) {
                   self->OnReply(r);
                 }
               });
}

void RpcClient::OnConnection(bool up) {
  if (options_.on_connection) options_.on_connection(up);
  if (!up) {
    // fetches_ is back to 0 already: the broker client failed each fetch (its callback counted
    // it out) before reporting the connection down.
    for (auto& [id, p] : calls_.calls()) {
      if (!p.service.empty()) {
        p.acked = p.acked && options_.request_durability != PutDurability::kStored;
      }
    }
    return;
  }
  FetchReplies();
  std::vector<uint64_t> resend;
  for (auto& [id, p] : calls_.calls()) {
    if (!p.acked) resend.push_back(id);
  }
  for (uint64_t id : resend) SendRequest(id);
}

void RpcClient::FetchReplies() {
  while (fetches_ < kMaxReplyFetches && !shut_down_ && broker_->connected()) FetchReplyBatch();
}

void RpcClient::FetchReplyBatch() {
  ++fetches_;
  broker_->GroupFetch(reply_queue_, kRpcGroup, options_.reply_batch, kReplyWaitMs,
                      [weak = weak_from_this()](const Status& s, const MessagesReply& reply) {
                        auto self = weak.lock();
                        if (!self) return;
                        --self->fetches_;
                        if (!s.ok()) return;  // reconnect restarts the loop
                        std::vector<uint64_t> offsets;
                        offsets.reserve(reply.messages.size());
                        for (const Message& m : reply.messages) {
                          offsets.push_back(m.offset);
                          RpcReply r;
                          if (DecodeRpcReply(m.payload, &r).ok() && IsReplyTo(m, r.request_id)) {
                            self->OnReply(r, true);
                          }
                        }
                        if (!offsets.empty())
                          self->broker_->Ack(self->reply_queue_, kRpcGroup, offsets, false, {});
                        self->FetchReplies();
                      });
}

void RpcClient::OnReply(const RpcReply& reply, bool delivered) { calls_.OnReply(reply, delivered); }

void RpcClient::Complete(uint64_t id, CallResult result) { calls_.Complete(id, std::move(result)); }

void RpcClient::ArmSweep() {
  if (shut_down_) return;
  sweep_timer_.expires_after(options_.sweep_interval);
  sweep_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) {
      self->Sweep();
      self->ArmSweep();
    }
  });
}

void RpcClient::Sweep() { calls_.Expire(SteadyClock::now()); }

}  // namespace meshq::bridge
