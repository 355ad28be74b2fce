// NatsResponder: the push consumer, deadline drops, reply replay, handler dispatch, acks.
#include "nats/nats_responder.h"

#include "meshq/bridge/hop_stats.h"

namespace meshq::bridge::nats {
namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

namespace {

// Longer than any call's deadline in practice: a request is delivered again only when its
// responder is gone (or its ack lost), and by then it is usually past its deadline.
constexpr int64_t kAckWaitNs = 30'000'000'000;
// Requests delivered to the group and not yet acknowledged, at most (all responders together).
constexpr int64_t kMaxAckPending = 65536;
constexpr auto kReplyMemorySlack = std::chrono::seconds(5);
constexpr auto kSweepInterval = std::chrono::milliseconds(200);
constexpr auto kHandBackDelay = std::chrono::milliseconds(100);

std::string_view Data(natsMsg* m) {
  return {natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m))};
}

}  // namespace

std::shared_ptr<NatsResponder> NatsResponder::Create(asio::io_context& io, RpcServerOptions options,
                                                     NatsConfig config, Handler handler) {
  return std::shared_ptr<NatsResponder>(
      new NatsResponder(io, std::move(options), std::move(config), std::move(handler)));
}

NatsResponder::NatsResponder(asio::io_context& io, RpcServerOptions options, NatsConfig config,
                             Handler handler)
    : io_(io),
      options_(std::move(options)),
      config_(std::move(config)),
      handler_(std::move(handler)),
      sweep_timer_(io),
      max_in_flight_(options_.max_in_flight) {}

NatsResponder::~NatsResponder() {
  // First: the link thread's tasks refer to this object's members.
  link_.reset();
}

void NatsResponder::Start() {
  NatsLink::Options o =
      OwnerLinkOptions(weak_from_this(), io_, config_, "meshq responder " + options_.service,
                       options_.on_connection, &NatsResponder::OnReplyAck);
  o.on_ready = [this](NatsLink& link) { return Subscribe(link); };
  link_ = std::make_unique<NatsLink>(std::move(o));
  ArmSweep();
}

Status NatsResponder::Subscribe(NatsLink& link) {
  if (!ValidSubjectName(options_.service)) {
    return Status::InvalidArgument("nats: service '" + options_.service + "'");
  }
  auto weak = weak_from_this();
  auto* io = &io_;
  if (!consumer_subscribed_) {
    const std::string durable = ConsumerName(options_.service);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = kRequestStream;
    so.Queue = "rpc";
    so.ManualAck = true;
    so.Config.Durable = durable.c_str();
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.AckWait = kAckWaitNs;
    so.Config.MaxAckPending = kMaxAckPending;
    so.Config.DeliverPolicy = js_DeliverAll;
    Status s =
        link.SubscribeJetStream(RequestSubject(options_.service), &so, [weak, io](natsMsg* m) {
          Delivery d;
          d.msg = HoldMsg(m);
          jsMsgMetaData* meta = nullptr;
          if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
            d.delivered = meta->NumDelivered;
            jsMsgMetaData_Destroy(meta);
          }
          asio::post(*io, [weak, d = std::move(d)]() mutable {
            if (auto self = weak.lock()) self->OnRequest(std::move(d));
          });
        });
    if (!s.ok()) return s;
    consumer_subscribed_ = true;
  }
  if (!probe_subscribed_) {
    natsConnection* nc = link.connection();
    Status s = link.Subscribe(ProbeSubject(options_.service), "rpc", [nc](natsMsg* m) {
      if (const char* reply = natsMsg_GetReply(m)) natsConnection_Publish(nc, reply, "1", 1);
      natsMsg_Destroy(m);
    });
    if (!s.ok()) return s;
    probe_subscribed_ = true;
  }
  natsConnection_Publish(link.connection(), BeatSubject(options_.service).c_str(), "", 0);
  return Status::OK();
}

void NatsResponder::Drain() {
  draining_ = true;
  HandBackWaiting();
}

void NatsResponder::Pause() {
  paused_ = true;
  HandBackWaiting();
}

void NatsResponder::Resume(uint32_t max_in_flight) {
  max_in_flight_ =
      max_in_flight == 0 ? options_.max_in_flight : std::min(max_in_flight, options_.max_in_flight);
  paused_ = false;
  StartWaiting();
}

void NatsResponder::GiveBack(uint64_t request_id) {
  auto it = executing_.find(request_id);
  if (it == executing_.end()) return;
  NatsMsgPtr msg = std::move(it->second);
  executing_.erase(it);
  ++stats_.given_back;
  Nak(std::move(msg));
  StartWaiting();
}

void NatsResponder::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  sweep_timer_.cancel();
  if (link_) link_->Close();
}

void NatsResponder::OnRequest(Delivery d) {
  if (shut_down_) return;
  if (draining_ || paused_) {
    // Not at once: the group may hand it straight back to this responder.
    ++stats_.given_back;
    return Nak(std::move(d.msg), kHandBackDelay);
  }
  RpcRequest r;
  if (!DecodeRpcRequest(Data(d.msg.get()), &r).ok()) return Ack(std::move(d.msg));
  if (const RememberedReplies::Reply* remembered = replies_.Find(r.request_id)) {
    ++stats_.replayed;
    return SendReply(r.request_id, std::move(d.msg), remembered->reply_to, remembered->encoded);
  }
  // A redelivery of a request running (or answered, its ack pending) here: that ack covers it.
  if (executing_.count(r.request_id) || answered_.count(r.request_id)) return;
  const uint64_t now = UnixMicros();
  if (now > r.deadline_us) {
    ++stats_.expired;
    return Ack(std::move(d.msg));
  }
  if (d.delivered > 1 && !d.checked) {
    // Delivered before, maybe to another responder that answered it: its reply is stored.
    link_->Post([this, d = std::move(d), subject = ReplySubject(r.reply_to, r.request_id)] {
      const bool answered = link_->LastMessage(kReplyStream, subject) != nullptr;
      asio::post(io_, [weak = weak_from_this(), d = std::move(d), answered]() mutable {
        auto self = weak.lock();
        if (!self) return;
        d.checked = true;
        if (!answered) return self->OnRequest(std::move(d));
        ++self->stats_.replayed;
        self->Ack(std::move(d.msg));
      });
    });
    return;
  }
  if (executing_.size() >= max_in_flight_) {
    waiting_.push_back(std::move(d));
    return;
  }
  if (r.attempt == 1 && d.delivered == 1) {
    HopStats().request.Record(now > r.sent_us ? now - r.sent_us : 0);
  }
  Run(std::move(d), r);
}

void NatsResponder::Run(Delivery d, const RpcRequest& r) {
  executing_.emplace(r.request_id, std::move(d.msg));
  ++stats_.handled;
  RpcCall call{r.request_id,          r.trace_id, r.deadline_us, r.attempt, std::string(r.method),
               std::string(r.payload)};
  Respond respond = [weak = weak_from_this(), ex = io_.get_executor(), id = r.request_id,
                     trace = r.trace_id, deadline = r.deadline_us,
                     reply_to = std::string(r.reply_to)](ReplyStatus status,
                                                         std::string payload) mutable {
    asio::dispatch(ex, [weak, id, trace, deadline, reply_to = std::move(reply_to), status,
                        payload = std::move(payload)]() mutable {
      if (auto self = weak.lock()) {
        self->Finish(id, status, std::move(payload), trace, deadline, std::move(reply_to));
      }
    });
  };
  handler_(call, std::move(respond));
}

void NatsResponder::Finish(uint64_t request_id, ReplyStatus status, std::string payload,
                           uint64_t trace_id, uint64_t deadline_us, std::string reply_to) {
  auto it = executing_.find(request_id);
  if (it == executing_.end()) return;  // given back: another responder answers it
  NatsMsgPtr request = std::move(it->second);
  executing_.erase(it);
  RpcReply reply;
  reply.request_id = request_id;
  reply.trace_id = trace_id;
  reply.deadline_us = deadline_us;
  reply.status = status;
  reply.payload = payload;
  const RememberedReplies::Reply& kept =
      replies_.RememberReply(reply, std::move(reply_to), kReplyMemorySlack);
  SendReply(request_id, std::move(request), kept.reply_to, kept.encoded);
  StartWaiting();
}

void NatsResponder::SendReply(uint64_t request_id, NatsMsgPtr request, const std::string& reply_to,
                              const std::string& encoded) {
  answered_[request_id] = Answered{std::move(request), reply_to};
  link_->Post([this, request_id, subject = ReplySubject(reply_to, request_id), data = encoded] {
    natsStatus s = link_->PublishAsync(subject, data, request_id);
    if (s == NATS_OK) return;
    PubAck failed;
    failed.id = request_id;
    failed.error = natsStatus_GetText(s);
    asio::post(io_, [weak = weak_from_this(), failed] {
      if (auto self = weak.lock()) self->OnReplyAck(failed);
    });
  });
}

void NatsResponder::OnReplyAck(const PubAck& ack) {
  auto it = answered_.find(ack.id);
  if (it == answered_.end()) return;
  if (ack.ok) {
    NatsMsgPtr request = std::move(it->second.request);
    answered_.erase(it);
    return Ack(std::move(request));
  }
  // Not known to be stored: publish it again (the reply stream keeps one copy).
  const RememberedReplies::Reply* kept = replies_.Find(ack.id);
  if (kept == nullptr || shut_down_) {
    answered_.erase(it);  // unacked: delivered again, and run again only if not stored
    return;
  }
  NatsMsgPtr request = std::move(it->second.request);
  SendReply(ack.id, std::move(request), kept->reply_to, kept->encoded);
}

void NatsResponder::Ack(NatsMsgPtr msg) {
  link_->Post([msg = std::move(msg)] { natsMsg_Ack(msg.get(), nullptr); });
}

void NatsResponder::Nak(NatsMsgPtr msg, std::chrono::milliseconds delay) {
  link_->Post([msg = std::move(msg), delay] {
    if (delay.count() == 0) {
      natsMsg_Nak(msg.get(), nullptr);
    } else {
      natsMsg_NakWithDelay(msg.get(), delay.count(), nullptr);
    }
  });
}

void NatsResponder::HandBackWaiting() {
  for (Delivery& d : waiting_) {
    ++stats_.given_back;
    Nak(std::move(d.msg), kHandBackDelay);
  }
  waiting_.clear();
}

void NatsResponder::StartWaiting() {
  while (!waiting_.empty() && executing_.size() < max_in_flight_ && !paused_ && !draining_) {
    Delivery d = std::move(waiting_.front());
    waiting_.pop_front();
    OnRequest(std::move(d));
  }
}

void NatsResponder::ArmSweep() {
  if (shut_down_) return;
  sweep_timer_.expires_after(kSweepInterval);
  sweep_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    auto self = weak.lock();
    if (!self) return;
    const auto now = SteadyClock::now();
    self->replies_.Expire(now);
    if (now >= self->next_beat_) {
      self->next_beat_ = now + self->config_.responder_grace / 3;
      self->link_->Post([link = self->link_.get(), subject = BeatSubject(self->options_.service)] {
        natsConnection_Publish(link->connection(), subject.c_str(), "", 0);
      });
    }
    self->ArmSweep();
  });
}

}  // namespace meshq::bridge::nats
