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
constexpr auto kSweepInterval = std::chrono::milliseconds(50);
constexpr auto kHandBackDelay = std::chrono::milliseconds(100);
// A pull request waits this long at the server for requests to arrive. Short: nats-server
// 2.9.10 was seen to leave one responder's pull request unserved while another's newer ones
// were (two responders, one consumer); asked again this often, none starves for long.
constexpr auto kPullExpires = std::chrono::milliseconds(200);
constexpr auto kPullSlack = std::chrono::milliseconds(100);
// Pull requests one responder keeps waiting at once (more room asked for by another one).
constexpr size_t kMaxPulls = 32;
// A responder asks for max_in_flight / this + 1 requests beyond its free room, held in waiting_:
// when a handler finishes, the next request is here already instead of one pull round trip
// (through the consumer's leader) later, which left each slot idle for it.
constexpr uint32_t kHeadroomDivisor = 8;

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
  auto weak = weak_from_this();
  NatsLink::Options o = OwnerLinkOptions(
      weak, io_, config_, "meshq responder " + options_.service,
      [weak](bool up) {
        if (auto self = weak.lock()) self->OnConnection(up);
      },
      &NatsResponder::OnReplyAck);
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
  // First: a caller that finds no responder subscribed yet still finds this one's heartbeat
  // (its requests wait in the stream meanwhile).
  natsConnection_Publish(link.connection(), BeatSubject(options_.service).c_str(), "", 0);
  if (!consumer_ready_) {
    Status s = EnsureConsumer(link);
    if (!s.ok()) return s;
    consumer_ready_ = true;
  }
  if (pull_inbox_.empty()) {
    natsInbox* inbox = nullptr;
    if (natsInbox_Create(&inbox) != NATS_OK) return Status::Unavailable("nats: no inbox");
    std::string subject = inbox;
    natsInbox_Destroy(inbox);
    Status s = link.Subscribe(subject, nullptr, [weak, io](natsMsg* m) {
      const char* status = nullptr;
      if (natsMsg_GetDataLength(m) == 0 && natsMsgHeader_Get(m, "Status", &status) == NATS_OK) {
        // 408 (expired), 409 (e.g. a leader change), 404 or 503: that pull request is over;
        // 100 is a heartbeat.
        const bool over = status == nullptr || std::string_view(status).substr(0, 3) != "100";
        natsMsg_Destroy(m);
        if (!over) return;
        return asio::post(*io, [weak] {
          if (auto self = weak.lock()) self->OnPullEnded();
        });
      }
      Delivery d;
      d.msg = HoldMsg(m);
      d.delivered = DeliveryCount(natsMsg_GetReply(m));
      asio::post(*io, [weak, d = std::move(d)]() mutable {
        auto self = weak.lock();
        if (!self) return;
        self->OnPulled();
        self->OnRequest(std::move(d));
      });
    });
    if (!s.ok()) return s;
    // The servers must know of the inbox before a pull request names it: JetStream drops a
    // request whose reply subject has no interest.
    natsConnection_FlushTimeout(link.connection(), 1000);
    pull_inbox_ = std::move(subject);
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
  return Status::OK();
}

Status NatsResponder::EnsureConsumer(NatsLink& link) {
  const std::string durable = ConsumerName(options_.service);
  jsConsumerInfo* ci = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  // Looked up first, as the streams are (a create of an existing one may go unanswered).
  natsStatus s =
      js_GetConsumerInfo(&ci, link.js(), kRequestStream, durable.c_str(), nullptr, &jerr);
  jsConsumerInfo_Destroy(ci);
  if (s == NATS_OK) return Status::OK();
  const std::string filter = RequestSubject(options_.service);
  jsConsumerConfig cfg;
  jsConsumerConfig_Init(&cfg);
  cfg.Durable = durable.c_str();
  cfg.AckPolicy = js_AckExplicit;
  cfg.AckWait = kAckWaitNs;
  cfg.MaxAckPending = kMaxAckPending;
  cfg.DeliverPolicy = js_DeliverAll;
  cfg.FilterSubject = filter.c_str();
  ci = nullptr;
  s = js_AddConsumer(&ci, link.js(), kRequestStream, &cfg, nullptr, &jerr);
  jsConsumerInfo_Destroy(ci);
  if (s != NATS_OK && jerr != JSConsumerNameExistErr) {
    return Status::Unavailable("nats: consumer " + durable + ": " +
                               (nats_GetLastError(nullptr) ? nats_GetLastError(nullptr) : ""));
  }
  return Status::OK();
}

uint64_t NatsResponder::DeliveryCount(const char* ack_subject) {
  // "$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>",
  // or with "<domain>.<account hash>." after "$JS.ACK." (and a token more) on newer servers.
  if (ack_subject == nullptr) return 1;
  std::vector<std::string_view> tokens;
  std::string_view rest = ack_subject;
  while (!rest.empty()) {
    const size_t dot = rest.find('.');
    tokens.push_back(rest.substr(0, dot));
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
  }
  size_t at = tokens.size() == 9 ? 4 : tokens.size() >= 11 ? 6 : 0;
  if (at == 0) return 1;
  uint64_t n = 0;
  for (char c : tokens[at]) {
    if (c < '0' || c > '9') return 1;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n == 0 ? 1 : n;
}

void NatsResponder::OnConnection(bool up) {
  if (options_.on_connection) options_.on_connection(up);
  link_up_ = up;
  // Pull requests waiting at a server are gone with the connection (or its leader): ask anew.
  pulls_.clear();
  requested_ = 0;
  Pull();
}

void NatsResponder::Pull() {
  // After the handlers already due on this thread: the room freed by one batch of completions
  // is asked for by one pull request.
  if (pull_posted_) return;
  pull_posted_ = true;
  asio::post(io_, [weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      self->pull_posted_ = false;
      self->PullNow();
    }
  });
}

void NatsResponder::PullNow() {
  if (!link_up_ || shut_down_ || draining_ || paused_ || pulls_.size() >= kMaxPulls) return;
  const uint64_t taken = executing_.size() + waiting_.size() + requested_;
  const uint64_t room = max_in_flight_ + Headroom();
  if (taken >= room) return;
  const uint32_t batch = static_cast<uint32_t>(room - taken);
  requested_ += batch;
  pulls_.push_back(PullRequest{SteadyClock::now() + kPullExpires + kPullSlack, batch});
  const std::string body = "{\"batch\":" + std::to_string(batch) + ",\"expires\":" +
                           std::to_string(std::chrono::nanoseconds(kPullExpires).count()) + "}";
  link_->Post([this, body](NatsLink& link) {
    const std::string next = std::string("$JS.API.CONSUMER.MSG.NEXT.") + kRequestStream + "." +
                             ConsumerName(options_.service);
    natsConnection_PublishRequest(link.connection(), next.c_str(), pull_inbox_.c_str(), body.data(),
                                  static_cast<int>(body.size()));
  });
}

uint32_t NatsResponder::Headroom() const {
  // Below the configured maximum (a provider tried again with one call) nothing is held back.
  if (max_in_flight_ < options_.max_in_flight) return 0;
  return max_in_flight_ / kHeadroomDivisor + 1;
}

void NatsResponder::OnPulled() {
  // JetStream fills the pull requests in the order they came.
  if (pulls_.empty()) return;
  if (requested_ > 0) --requested_;
  if (--pulls_.front().remaining == 0) pulls_.pop_front();
}

void NatsResponder::OnPullEnded() {
  if (pulls_.empty()) return;
  requested_ -= std::min<uint64_t>(requested_, pulls_.front().remaining);
  pulls_.pop_front();
  Pull();
}

void NatsResponder::ExpirePulls(SteadyClock::time_point now) {
  // Ended without a word (the server holding it died): given up after its expiry and a slack.
  while (!pulls_.empty() && pulls_.front().expires <= now) OnPullEnded();
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
  Pull();
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
    link_->Post(
        [this, d = std::move(d), subject = ReplySubject(r.reply_to, r.request_id)](NatsLink& link) {
          const bool answered = link.LastMessage(kReplyStream, subject) != nullptr;
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
  Pull();
}

void NatsResponder::SendReply(uint64_t request_id, NatsMsgPtr request, const std::string& reply_to,
                              const std::string& encoded) {
  answered_[request_id] = Answered{std::move(request), reply_to};
  link_->Post([this, request_id, subject = ReplySubject(reply_to, request_id),
               data = encoded](NatsLink& link) {
    natsStatus s = link.PublishAsync(subject, data, request_id);
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
  link_->Post([msg = std::move(msg)](NatsLink& link) {
    if (const char* reply = natsMsg_GetReply(msg.get())) {
      natsConnection_Publish(link.connection(), reply, "+ACK", 4);
    }
  });
  Pull();
}

void NatsResponder::Nak(NatsMsgPtr msg, std::chrono::milliseconds delay) {
  link_->Post([msg = std::move(msg), delay](NatsLink& link) {
    const char* reply = natsMsg_GetReply(msg.get());
    if (reply == nullptr) return;
    const std::string nak =
        delay.count() == 0
            ? std::string("-NAK")
            : "-NAK {\"delay\":" + std::to_string(std::chrono::nanoseconds(delay).count()) + "}";
    natsConnection_Publish(link.connection(), reply, nak.data(), static_cast<int>(nak.size()));
  });
  Pull();
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
    self->ExpirePulls(now);
    if (now >= self->next_beat_) {
      self->next_beat_ = now + self->config_.responder_grace / 3;
      self->link_->Post([subject = BeatSubject(self->options_.service)](NatsLink& link) {
        natsConnection_Publish(link.connection(), subject.c_str(), "", 0);
      });
    }
    self->ArmSweep();
  });
}

}  // namespace meshq::bridge::nats
