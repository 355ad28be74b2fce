// NatsRequester: pending calls, liveness probes, publishes and their acks, replies.
#include "nats/nats_requester.h"

#include <random>

#include "meshq/coding.h"

namespace meshq::bridge::nats {
namespace asio = boost::asio;

namespace {

// How long a probe may go unanswered (a node lost, a cluster electing) before the calls
// waiting on it are sent anyway: their deadlines then decide.
constexpr auto kProbeWait = std::chrono::milliseconds(1000);
// How long a service found live stays so without another probe.
constexpr auto kLiveFor = std::chrono::milliseconds(1000);
// A service live only by a recent heartbeat is probed again this soon.
constexpr auto kBeatLiveFor = std::chrono::milliseconds(200);
// A request whose publish failed is sent again after this.
constexpr auto kResendAfter = std::chrono::milliseconds(100);
// A retried call whose reply goes to another client's subject looks for it this often.
constexpr auto kLookupEvery = std::chrono::milliseconds(50);
constexpr auto kSweepInterval = std::chrono::milliseconds(10);

std::string_view Data(natsMsg* m) {
  return {natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m))};
}

}  // namespace

std::shared_ptr<NatsRequester> NatsRequester::Create(asio::io_context& io, RpcClientOptions options,
                                                     NatsConfig config) {
  return std::shared_ptr<NatsRequester>(
      new NatsRequester(io, std::move(options), std::move(config)));
}

NatsRequester::NatsRequester(asio::io_context& io, RpcClientOptions options, NatsConfig config)
    : io_(io),
      options_(std::move(options)),
      config_(std::move(config)),
      reply_prefix_(ReplyPrefix(options_.client_id)),
      sweep_timer_(io) {
  std::random_device rd;
  id_state_ = (uint64_t{rd()} << 32) ^ rd() ^
              static_cast<uint64_t>(Clock::now().time_since_epoch().count());
}

NatsRequester::~NatsRequester() {
  // First: the link thread's tasks refer to this object's members.
  link_.reset();
}

void NatsRequester::Start() {
  NatsLink::Options o =
      OwnerLinkOptions(weak_from_this(), io_, config_, "meshq requester " + options_.client_id,
                       options_.on_connection, &NatsRequester::OnAck);
  o.on_ready = [this](NatsLink& link) { return Subscribe(link); };
  link_ = std::make_unique<NatsLink>(std::move(o));
  ArmSweep();
}

Status NatsRequester::Subscribe(NatsLink& link) {
  if (subscribed_) return Status::OK();
  if (!ValidSubjectName(options_.client_id)) {
    return Status::InvalidArgument("nats: client id '" + options_.client_id + "'");
  }
  auto weak = weak_from_this();
  auto* io = &io_;
  if (probe_inbox_.empty()) {
    Status s = link.Subscribe(reply_prefix_ + ".*", nullptr, [weak, io](natsMsg* m) {
      std::string bytes(Data(m));
      natsMsg_Destroy(m);
      asio::post(*io, [weak, bytes = std::move(bytes)] {
        if (auto self = weak.lock()) self->OnReplyBytes(bytes, true);
      });
    });
    if (!s.ok()) return s;
    natsInbox* inbox = nullptr;
    if (natsInbox_Create(&inbox) != NATS_OK) return Status::Unavailable("nats: no inbox");
    probe_inbox_ = inbox;
    natsInbox_Destroy(inbox);
  }
  Status s = link.Subscribe(probe_inbox_ + ".*", nullptr, [weak, io](natsMsg* m) {
    const std::string_view subject = natsMsg_GetSubject(m);
    const uint64_t probe =
        std::strtoull(subject.substr(subject.rfind('.') + 1).data(), nullptr, 10);
    const bool live = !natsMsg_IsNoResponders(m);
    natsMsg_Destroy(m);
    asio::post(*io, [weak, probe, live] {
      if (auto self = weak.lock()) self->OnProbe(probe, live);
    });
  });
  if (!s.ok()) return s;
  subscribed_ = true;
  return Status::OK();
}

void NatsRequester::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  sweep_timer_.cancel();
  calls_.FailAll(CallError::kBrokerError, "client shut down");
  if (link_) link_->Close();
}

uint64_t NatsRequester::Call(std::string_view service, std::string_view payload,
                             const CallOptions& options, Callback done) {
  uint64_t id = options.request_id ? options.request_id : NextRequestId(&id_state_);
  if (shut_down_) {
    done(CallResult{CallError::kBrokerError, "client shut down", id, 0});
    return id;
  }
  if (!ValidSubjectName(service)) {
    done(CallResult{CallError::kBrokerError, "not a NATS subject: " + std::string(service), id, 0});
    return id;
  }
  switch (calls_.AddCall(id, service, payload, options, reply_prefix_, std::move(done))) {
    case CallTable<Pending>::Added::kAnswered:
      return id;
    case CallTable<Pending>::Added::kRetry:
      calls_.Find(id)->acked = false;  // a retry: published again, the stream keeps one copy
      break;
    case CallTable<Pending>::Added::kNew:
      break;
  }
  Send(id);
  return id;
}

void NatsRequester::Collect(uint64_t request_id, std::chrono::milliseconds timeout, Callback done) {
  CallResult kept;
  if (calls_.TakeOrphan(request_id, &kept)) return done(std::move(kept));
  bool inserted = false;
  Pending& p = calls_.Add(request_id, std::move(done), Clock::now() + timeout, &inserted);
  if (!inserted) return;
  p.acked = true;  // nothing to send: the reply is in the stream, or on its way
  LookUpReply(request_id, 0, ReplySubject(reply_prefix_, request_id));
}

void NatsRequester::Send(uint64_t id) {
  Pending* p = calls_.Find(id);
  if (p == nullptr || p->acked) return;
  ServiceState& state = services_[p->service];
  if (Clock::now() < state.live_until) return Publish(id);
  state.waiting.push_back(id);
  if (!state.probing) Probe(p->service);
}

void NatsRequester::Publish(uint64_t id) {
  Pending& p = *calls_.Find(id);
  ++p.attempts;
  EncodeFixed32(p.request.data() + kRpcRequestAttemptOffset, p.attempts);
  link_->Post([this, id, subject = RequestSubject(p.service), data = p.request](NatsLink& link) {
    natsStatus s = link.PublishAsync(subject, data, id);
    if (s == NATS_OK) return;
    PubAck failed;
    failed.id = id;
    failed.error = natsStatus_GetText(s);
    asio::post(io_, [weak = weak_from_this(), failed] {
      if (auto self = weak.lock()) self->OnAck(failed);
    });
  });
}

void NatsRequester::Probe(const std::string& service) {
  ServiceState& state = services_[service];
  state.probing = true;
  // Its wait starts once it is sent (the link may still be connecting).
  state.probe_deadline = Clock::time_point::max();
  const uint64_t probe = ++next_probe_;
  state.probe = probe;
  probes_[probe] = service;
  link_->Post([this, probe, service](NatsLink& link) {
    const std::string reply = probe_inbox_ + "." + std::to_string(probe);
    natsConnection_PublishRequest(link.connection(), ProbeSubject(service).c_str(), reply.c_str(),
                                  "", 0);
    asio::post(io_, [weak = weak_from_this(), probe, service] {
      auto self = weak.lock();
      if (!self) return;
      ServiceState& sent = self->services_[service];
      if (sent.probing && sent.probe == probe) sent.probe_deadline = Clock::now() + kProbeWait;
    });
  });
}

void NatsRequester::OnProbe(uint64_t probe, bool live) {
  auto it = probes_.find(probe);
  if (it == probes_.end()) return;
  const std::string service = std::move(it->second);
  probes_.erase(it);
  ServiceState& state = services_[service];
  if (!state.probing) return;
  if (live) return ServiceLive(state, Clock::now() + std::min(kLiveFor, config_.responder_grace));
  // Nobody subscribed now: a heartbeat within the grace period still makes it live.
  const int64_t grace_ns = config_.responder_grace.count() * 1'000'000;
  link_->Post([this, service, grace_ns](NatsLink& link) {
    NatsMsgPtr beat = link.LastMessage(kBeatStream, BeatSubject(service));
    const bool recent =
        beat && static_cast<int64_t>(UnixMicros()) * 1000 - natsMsg_GetTime(beat.get()) < grace_ns;
    asio::post(io_, [weak = weak_from_this(), service, recent] {
      if (auto self = weak.lock()) self->OnBeat(service, recent);
    });
  });
}

void NatsRequester::OnBeat(const std::string& service, bool recent) {
  ServiceState& state = services_[service];
  if (!state.probing) return;
  if (recent) return ServiceLive(state, Clock::now() + kBeatLiveFor);
  state.probing = false;
  std::vector<uint64_t> waiting = std::move(state.waiting);
  state.waiting.clear();
  for (uint64_t id : waiting) {
    Pending* p = calls_.Find(id);
    if (p == nullptr || p->acked) continue;
    calls_.Complete(id,
                    {CallError::kNoResponders, "no responders for " + service, id, p->attempts});
  }
}

void NatsRequester::ServiceLive(ServiceState& state, Clock::time_point until) {
  state.live_until = until;
  state.probing = false;
  std::vector<uint64_t> waiting = std::move(state.waiting);
  state.waiting.clear();
  for (uint64_t id : waiting) {
    Pending* p = calls_.Find(id);
    if (p != nullptr && !p->acked) Publish(id);
  }
}

void NatsRequester::OnAck(const PubAck& ack) {
  Pending* p = calls_.Find(ack.id);
  if (p == nullptr || p->acked || p->service.empty()) return;
  if (!ack.ok) {
    // Not known to be stored (a node lost, no stream leader yet): again, under the same id.
    resends_.emplace(Clock::now() + kResendAfter, ack.id);
    return;
  }
  p->acked = true;
  // Stored before: a retry of a call that may be answered already.
  if (ack.duplicate) LookUpReply(ack.id, ack.sequence, ReplySubject(reply_prefix_, ack.id));
}

void NatsRequester::LookUpReply(uint64_t id, uint64_t request_sequence, std::string subject) {
  link_->Post([this, id, request_sequence, subject = std::move(subject)](NatsLink& link) mutable {
    if (request_sequence != 0) {
      // The stored request names the reply subject: another client's, when it sent it first.
      if (NatsMsgPtr request = link.MessageAt(kRequestStream, request_sequence)) {
        RpcRequest r;
        if (DecodeRpcRequest(Data(request.get()), &r).ok() && r.request_id == id) {
          subject = ReplySubject(r.reply_to, id);
        }
      }
    }
    NatsMsgPtr reply = link.LastMessage(kReplyStream, subject);
    std::string bytes = reply ? std::string(Data(reply.get())) : std::string();
    asio::post(io_, [weak = weak_from_this(), id, subject = std::move(subject),
                     found = reply != nullptr, bytes = std::move(bytes)] {
      auto self = weak.lock();
      if (!self) return;
      if (found) return self->OnReplyBytes(bytes, false);
      // Not answered yet. A reply to our own subject arrives by the subscription; one to
      // another client's is looked for again.
      Pending* p = self->calls_.Find(id);
      if (p == nullptr || subject == ReplySubject(self->reply_prefix_, id)) return;
      p->stored_reply = subject;
      self->lookups_.emplace(Clock::now() + kLookupEvery, id);
    });
  });
}

void NatsRequester::OnReplyBytes(const std::string& bytes, bool delivered) {
  RpcReply r;
  if (DecodeRpcReply(bytes, &r).ok()) calls_.OnReply(r, delivered);
}

void NatsRequester::ArmSweep() {
  if (shut_down_) return;
  sweep_timer_.expires_after(kSweepInterval);
  sweep_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) {
      self->Sweep();
      self->ArmSweep();
    }
  });
}

void NatsRequester::Sweep() {
  const auto now = Clock::now();
  calls_.Expire(now);
  while (!resends_.empty() && resends_.begin()->first <= now) {
    uint64_t id = resends_.begin()->second;
    resends_.erase(resends_.begin());
    Pending* p = calls_.Find(id);
    if (p != nullptr && !p->acked) Publish(id);
  }
  while (!lookups_.empty() && lookups_.begin()->first <= now) {
    uint64_t id = lookups_.begin()->second;
    lookups_.erase(lookups_.begin());
    if (Pending* p = calls_.Find(id)) LookUpReply(id, 0, p->stored_reply);
  }
  for (auto& [service, state] : services_) {
    // An unanswered probe: send anyway, the calls' deadlines decide.
    if (state.probing && state.probe_deadline <= now) ServiceLive(state, now + kBeatLiveFor);
  }
}

}  // namespace meshq::bridge::nats
