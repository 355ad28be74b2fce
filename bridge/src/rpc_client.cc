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

uint64_t RpcClient::NewRequestId() {
  // splitmix64 over a randomly seeded counter: unique per client, unpredictable across clients.
  uint64_t z = (id_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return z ? z : 1;
}

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
  std::vector<uint64_t> ids;
  for (auto& [id, p] : pending_) ids.push_back(id);
  for (uint64_t id : ids) {
    Complete(id, CallResult{CallError::kBrokerError, "client shut down", id, 0});
  }
  broker_->Close();
}

uint64_t RpcClient::Call(std::string_view service, std::string_view payload,
                         const CallOptions& options, Callback done) {
  uint64_t id = options.request_id ? options.request_id : NewRequestId();
  if (shut_down_) {
    done(CallResult{CallError::kBrokerError, "client shut down", id, 0});
    return id;
  }
  auto [it, inserted] = pending_.try_emplace(id);
  Pending& p = it->second;
  p.waiters.push_back(std::move(done));
  if (inserted) {
    p.deadline = SteadyClock::now() + options.timeout;
    deadlines_.emplace(p.deadline, id);
    p.service = std::string(service);
    RpcRequest r;
    r.request_id = id;
    r.trace_id = options.trace_id ? options.trace_id : id;
    r.sent_us = UnixMicros();
    r.deadline_us = r.sent_us + static_cast<uint64_t>(options.timeout.count()) * 1000;
    r.reply_to = reply_queue_;
    r.method = options.method;
    r.payload = payload;
    EncodeRpcRequest(r, &p.request);
    // A reply that arrived before this call (an earlier instance's call with this id).
    auto orphan = orphans_.find(id);
    if (orphan != orphans_.end()) {
      std::string kept = std::move(orphan->second.payload);
      RpcReply reply;
      reply.request_id = id;
      reply.status = orphan->second.status;
      reply.payload = kept;
      orphans_.erase(orphan);
      OnReply(reply);
      return id;
    }
  } else {
    p.acked = false;  // a retry: send again, the broker keeps one copy
  }
  SendRequest(id);
  return id;
}

void RpcClient::Collect(uint64_t request_id, std::chrono::milliseconds timeout, Callback done) {
  auto orphan = orphans_.find(request_id);
  if (orphan != orphans_.end()) {
    CallResult r;
    r.request_id = request_id;
    r.error =
        orphan->second.status == ReplyStatus::kOk ? CallError::kNone : CallError::kHandlerError;
    r.payload = std::move(orphan->second.payload);
    orphans_.erase(orphan);
    return done(std::move(r));
  }
  auto [it, inserted] = pending_.try_emplace(request_id);
  it->second.waiters.push_back(std::move(done));
  if (inserted) {
    it->second.deadline = SteadyClock::now() + timeout;
    it->second.acked = true;  // nothing to send: only the reply is awaited
    deadlines_.emplace(it->second.deadline, request_id);
  }
  FetchReplies();
}

void RpcClient::SendRequest(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end() || it->second.acked || !broker_->connected()) return;
  // Sent after the handlers already due on this thread have run: calls started together (by the
  // completions of one batch of replies, or by requests arriving in one poll) share one PUT per
  // service.
  queued_[it->second.service].push_back(id);
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
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second.acked) continue;
    Pending& p = it->second;
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
                   auto pit =
                       self->pending_.find(id);  // found again: a completion may change pending_
                   if (pit == self->pending_.end()) continue;
                   const uint32_t attempts = pit->second.attempts;
                   if (!s.ok() || (!answer.no_consumers && i >= answer.results.size())) {
                     self->Complete(id, {CallError::kBrokerError,
                                         s.ok() ? "PUT answer without this request" : s.ToString(),
                                         id, attempts});
                   } else if (answer.no_consumers) {
                     self->Complete(id, {CallError::kNoResponders,
                                         "no responders for " + pit->second.service, id, attempts});
                   } else {
                     pit->second.acked = true;
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
    for (auto& [id, p] : pending_) {
      if (!p.service.empty()) {
        p.acked = p.acked && options_.request_durability != PutDurability::kStored;
      }
    }
    return;
  }
  FetchReplies();
  std::vector<uint64_t> resend;
  for (auto& [id, p] : pending_) {
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

void RpcClient::OnReply(const RpcReply& reply, bool delivered) {
  auto it = pending_.find(reply.request_id);
  if (it == pending_.end()) {
    // Kept for Collect or a retried Call, as long as its deadline allows.
    auto remaining = std::chrono::microseconds(
        reply.deadline_us > UnixMicros() ? reply.deadline_us - UnixMicros() : 0);
    orphans_[reply.request_id] =
        Orphan{reply.status, std::string(reply.payload), SteadyClock::now() + remaining};
    return;
  }
  if (delivered && it->second.attempts == 1) {
    const uint64_t now = UnixMicros();
    HopStats().reply.Record(now > reply.replied_us ? now - reply.replied_us : 0);
  }
  CallResult r;
  r.request_id = reply.request_id;
  r.attempts = it->second.attempts;
  r.error = reply.status == ReplyStatus::kOk ? CallError::kNone : CallError::kHandlerError;
  r.payload = std::string(reply.payload);
  Complete(reply.request_id, std::move(r));
}

void RpcClient::Complete(uint64_t id, CallResult result) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  std::vector<Callback> waiters = std::move(it->second.waiters);
  auto range = deadlines_.equal_range(it->second.deadline);
  for (auto d = range.first; d != range.second; ++d) {
    if (d->second == id) {
      deadlines_.erase(d);
      break;
    }
  }
  pending_.erase(it);
  for (size_t i = 0; i < waiters.size(); ++i) {
    waiters[i](i + 1 == waiters.size() ? std::move(result) : result);
  }
}

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

void RpcClient::Sweep() {
  auto now = SteadyClock::now();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    uint64_t id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    auto it = pending_.find(id);
    uint32_t attempts = it == pending_.end() ? 0 : it->second.attempts;
    Complete(id, CallResult{CallError::kTimedOut, "no reply before the deadline", id, attempts});
  }
  for (auto it = orphans_.begin(); it != orphans_.end();) {
    it = it->second.expires <= now ? orphans_.erase(it) : std::next(it);
  }
}

}  // namespace meshq::bridge
