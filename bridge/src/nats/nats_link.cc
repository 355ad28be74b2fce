// NatsLink: the connection, its task thread, the streams, async publishes and their acks.
#include "nats/nats_link.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "meshq/log.h"

namespace meshq::bridge::nats {

namespace {

constexpr int64_t kNanosPerMs = 1'000'000;
// How long an async publish waits for its ack before on_ack reports it failed (the owner
// sends it again under the same Nats-Msg-Id).
constexpr int64_t kPublishAckWaitMs = 2000;
// Between two attempts at creating the streams / the owner's subscriptions.
constexpr auto kReadyRetry = std::chrono::milliseconds(200);
// Retries of one message id are deduplicated this long by the request and reply streams.
constexpr int64_t kDuplicateWindowMs = 120'000;

std::string Status_(natsStatus s) { return natsStatus_GetText(s); }

// Waits until `done()`: nats.c promises the callback that makes it true (a subscription's
// complete handler, the connection's closed one), and the memory those callbacks touch is freed
// right after, so the wait has no bound — a bounded one let a late callback (a loaded machine)
// write into a freed link. A wait past a few seconds is logged once.
template <typename Done>
void WaitForCallbacks(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                      const char* what, Done done) {
  if (cv.wait_for(lock, std::chrono::seconds(2), done)) return;
  LogEvent(LogLevel::kWarn, "nats", "still waiting for nats.c callbacks").Field("for", what);
  cv.wait(lock, done);
}

}  // namespace

std::string RequestSubject(std::string_view service) { return "rpc.req." + std::string(service); }
std::string ReplyPrefix(std::string_view client_id) { return "rpc.rep." + std::string(client_id); }
std::string ReplySubject(std::string_view reply_prefix, uint64_t request_id) {
  return std::string(reply_prefix) + "." + HexId(request_id);
}
std::string ProbeSubject(std::string_view service) { return "rpc.probe." + std::string(service); }
std::string BeatSubject(std::string_view service) { return "rpc.beat." + std::string(service); }

std::string ConsumerName(std::string_view service) {
  std::string name = "rpc_" + std::string(service);
  for (char& c : name) {
    if (c == '.') c = '_';
  }
  return name;
}

bool ValidSubjectName(std::string_view name) {
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  char prev = 0;
  for (char c : name) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '*' || c == '>') return false;
    if (c == '.' && prev == '.') return false;
    prev = c;
  }
  return true;
}

std::string HexId(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, id);
  return buf;
}

NatsMsgPtr HoldMsg(natsMsg* m) { return NatsMsgPtr(m, NatsMsgFree{}); }

NatsLink::NatsLink(Options options) : options_(std::move(options)) {
  own_tasks_.push_back([this] { Connect(); });
  thread_ = std::thread([this] { Run(); });
}

NatsLink::~NatsLink() {
  Close();
  if (thread_.joinable()) thread_.join();
}

void NatsLink::Post(Task task) {
  std::lock_guard lock(mu_);
  if (closing_) return;
  tasks_.push_back(std::move(task));
  if (tasks_.size() == 1 && ready_) cv_.notify_all();
}

void NatsLink::RetryAfter(std::chrono::milliseconds delay, std::function<void()> task) {
  std::lock_guard lock(mu_);
  timers_.emplace(std::chrono::steady_clock::now() + delay, std::move(task));
}

void NatsLink::Close() {
  std::lock_guard lock(mu_);
  if (closing_) return;
  closing_ = true;
  cv_.notify_all();
}

void NatsLink::Run() {
  std::deque<std::function<void()>> own;
  std::deque<Task> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      for (;;) {
        const auto now = std::chrono::steady_clock::now();
        while (!timers_.empty() && timers_.begin()->first <= now) {
          own_tasks_.push_back(std::move(timers_.begin()->second));
          timers_.erase(timers_.begin());
        }
        if (!own_tasks_.empty() || (ready_ && !tasks_.empty()) || closing_) break;
        if (timers_.empty()) {
          cv_.wait(lock);
        } else {
          cv_.wait_until(lock, timers_.begin()->first);
        }
      }
      if (closing_ && own_tasks_.empty() && (!ready_ || tasks_.empty())) break;
      own.swap(own_tasks_);
      if (ready_) batch.swap(tasks_);
    }
    for (auto& task : own) task();
    own.clear();
    for (auto& task : batch) task(*this);
    batch.clear();
  }
  CloseSubscriptions();
  // The tasks before Close ran; what was published waits (bounded) for its acks, so no ack
  // handler runs once the connection is gone.
  if (js_ != nullptr) {
    jsPubOptions o;
    jsPubOptions_Init(&o);
    o.MaxWait = 500;
    js_PublishAsyncComplete(js_, &o);
    jsCtx_Destroy(js_);
    js_ = nullptr;
  }
  if (nc_ != nullptr) {
    natsConnection_Close(nc_);
    // The connection's callbacks refer to this link: the closed one comes last.
    std::unique_lock lock(mu_);
    WaitForCallbacks(cv_, lock, "connection closed", [this] { return closed_; });
    lock.unlock();
    natsConnection_Destroy(nc_);
    nc_ = nullptr;
  }
}

void NatsLink::Connect() {
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  std::vector<const char*> servers;
  for (const std::string& server : options_.config.servers) servers.push_back(server.c_str());
  if (s == NATS_OK) {
    s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
  }
  // A call's request and reply are small and latency-bound: written to the socket at once
  // instead of by nats.c's flusher thread.
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 100);
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 2000);
  if (s == NATS_OK && !options_.name.empty()) s = natsOptions_SetName(opts, options_.name.c_str());
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts, true, &OnConnected, this);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, &OnDisconnected, this);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, &OnClosed, this);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, &OnConnected, this);
  if (s == NATS_OK) {
    s = natsConnection_Connect(&nc_, opts);
    if (s == NATS_NOT_YET_CONNECTED) s = NATS_OK;  // connects in the background
  }
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    std::fprintf(stderr, "meshq nats: cannot connect: %s\n", Status_(s).c_str());
    nc_ = nullptr;
    return RetryAfter(std::chrono::seconds(1), [this] { Connect(); });
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 5000;
  jo.PublishAsync.MaxPending = 1 << 20;  // never stalls a publish: the owners bound their calls
  jo.PublishAsync.AckHandler = &OnAck;
  jo.PublishAsync.AckHandlerClosure = this;
  s = natsConnection_JetStream(&js_, nc_, &jo);
  if (s != NATS_OK) {
    std::fprintf(stderr, "meshq nats: no JetStream context: %s\n", Status_(s).c_str());
    return;
  }
  BecomeReady();
}

void NatsLink::BecomeReady() {
  {
    std::lock_guard lock(mu_);
    if (ready_ || closing_) return;
  }
  if (js_ == nullptr) return;
  Status s = EnsureStreams();
  if (s.ok() && options_.on_ready) s = options_.on_ready(*this);
  if (!s.ok()) {
    // A cluster still electing its stream leaders answers slowly; say why the link is not up.
    const auto now = std::chrono::steady_clock::now();
    if (now - last_not_ready_log_ >= std::chrono::seconds(5)) {
      last_not_ready_log_ = now;
      std::fprintf(stderr, "meshq nats: not ready yet, retrying: %s\n", s.ToString().c_str());
    }
    return RetryAfter(kReadyRetry, [this] { BecomeReady(); });
  }
  {
    std::lock_guard lock(mu_);
    ready_ = true;
  }
  // "Up" means usable: connected, with the streams and the owner's subscriptions in place.
  if (options_.on_connection) options_.on_connection(true);
}

int NatsLink::replicas() const {
  if (options_.config.replicas > 0) return options_.config.replicas;
  return options_.config.servers.size() >= 3 ? 3 : 1;
}

Status NatsLink::EnsureStreams() {
  struct Spec {
    const char* name;
    const char* subjects;
    int64_t per_subject;
    int64_t max_age_ms;
  };
  const int64_t retention_ms = options_.config.retention.count() * 1000;
  const Spec specs[] = {
      {kRequestStream, "rpc.req.>", -1, retention_ms},
      {kReplyStream, "rpc.rep.>", -1, retention_ms},
      // One heartbeat a service: what tells a caller its responders were there a moment ago.
      {kBeatStream, "rpc.beat.>", 1, 3'600'000},
  };
  for (const Spec& spec : specs) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char* subjects[] = {spec.subjects};
    cfg.Name = spec.name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Retention = js_LimitsPolicy;
    cfg.Replicas = replicas();
    cfg.MaxAge = spec.max_age_ms * kNanosPerMs;
    cfg.MaxMsgsPerSubject = spec.per_subject;
    cfg.Duplicates = std::min(kDuplicateWindowMs, spec.max_age_ms) * kNanosPerMs;
    cfg.AllowDirect = true;
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    // Looked up first: nats-server 2.9.10 may not answer a create of a stream that exists.
    natsStatus s = js_GetStreamInfo(&si, js_, spec.name, nullptr, &jerr);
    jsStreamInfo_Destroy(si);
    si = nullptr;
    if (s == NATS_OK) continue;
    s = js_AddStream(&si, js_, &cfg, nullptr, &jerr);
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK && jerr != JSStreamNameExistErr) {
      return Status::Unavailable(std::string("nats: stream ") + spec.name + ": " +
                                 nats_GetLastError(nullptr));
    }
  }
  return Status::OK();
}

NatsLink::Sub* NatsLink::NewSub(MsgHandler handler) {
  Sub& s = subs_.emplace_back();
  s.link = this;
  s.handler = std::move(handler);
  return &s;
}

Status NatsLink::Track(Sub* sub, natsStatus s, const std::string& subject) {
  if (s == NATS_OK) s = natsSubscription_SetOnCompleteCB(sub->sub, &OnSubComplete, sub);
  if (s == NATS_OK) return Status::OK();
  std::string error = nats_GetLastError(nullptr) ? nats_GetLastError(nullptr) : "";
  natsSubscription_Destroy(sub->sub);
  subs_.remove_if([sub](const Sub& x) { return &x == sub; });
  return Status::Unavailable("nats: subscribe " + subject + ": " + error);
}

Status NatsLink::Subscribe(const std::string& subject, const char* queue, MsgHandler handler) {
  if (nc_ == nullptr) return Status::Unavailable("nats: not connected");
  Sub* sub = NewSub(std::move(handler));
  natsStatus s =
      queue == nullptr
          ? natsConnection_Subscribe(&sub->sub, nc_, subject.c_str(), &OnMsg, sub)
          : natsConnection_QueueSubscribe(&sub->sub, nc_, subject.c_str(), queue, &OnMsg, sub);
  return Track(sub, s, subject);
}

// Unsubscribes everything and waits until no handler runs any more: the handlers refer to
// their owners, which may go away after the link.
void NatsLink::CloseSubscriptions() {
  for (Sub& s : subs_) natsSubscription_Unsubscribe(s.sub);
  {
    std::unique_lock lock(mu_);
    WaitForCallbacks(cv_, lock, "subscriptions complete", [this] {
      for (const Sub& s : subs_) {
        if (!s.complete) return false;
      }
      return true;
    });
  }
  for (Sub& s : subs_) natsSubscription_Destroy(s.sub);
  subs_.clear();
}

void NatsLink::OnMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<Sub*>(closure)->handler(msg);
}

void NatsLink::OnSubComplete(void* closure) {
  auto* sub = static_cast<Sub*>(closure);
  std::lock_guard lock(sub->link->mu_);
  sub->complete = true;
  sub->link->cv_.notify_all();
}

natsStatus NatsLink::PublishAsync(const std::string& subject, std::string_view data, uint64_t id) {
  if (js_ == nullptr) return NATS_CONNECTION_CLOSED;
  natsMsg* msg = nullptr;
  natsStatus s =
      natsMsg_Create(&msg, subject.c_str(), nullptr, data.data(), static_cast<int>(data.size()));
  if (s != NATS_OK) return s;
  const std::string msg_id = HexId(id);
  jsPubOptions o;
  jsPubOptions_Init(&o);
  o.MsgId = msg_id.c_str();
  o.MaxWait = kPublishAckWaitMs;
  s = js_PublishMsgAsync(js_, &msg, &o);
  natsMsg_Destroy(msg);  // null when the library took it
  return s;
}

NatsMsgPtr NatsLink::LastMessage(const char* stream, const std::string& subject) {
  if (js_ == nullptr) return nullptr;
  natsMsg* msg = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  if (js_GetLastMsg(&msg, js_, stream, subject.c_str(), nullptr, &jerr) != NATS_OK) {
    return nullptr;
  }
  return HoldMsg(msg);
}

NatsMsgPtr NatsLink::MessageAt(const char* stream, uint64_t sequence) {
  if (js_ == nullptr) return nullptr;
  natsMsg* msg = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  if (js_GetMsg(&msg, js_, stream, sequence, nullptr, &jerr) != NATS_OK) return nullptr;
  return HoldMsg(msg);
}

void NatsLink::OnAck(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  auto* self = static_cast<NatsLink*>(closure);
  PubAck ack;
  const char* id = nullptr;
  if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && id != nullptr) {
    ack.id = std::strtoull(id, nullptr, 16);
  }
  if (pa != nullptr) {
    ack.ok = true;
    ack.duplicate = pa->Duplicate;
    ack.sequence = pa->Sequence;
  } else if (pae != nullptr) {
    ack.error = pae->ErrText != nullptr ? pae->ErrText : natsStatus_GetText(pae->Err);
  }
  natsMsg_Destroy(msg);
  if (ack.id != 0 && self->options_.on_ack) self->options_.on_ack(ack);
}

void NatsLink::OnConnected(natsConnection*, void* closure) {
  auto* self = static_cast<NatsLink*>(closure);
  std::lock_guard lock(self->mu_);
  // Ready before (a reconnect): its subscriptions came back with the connection.
  if (self->ready_) {
    if (self->options_.on_connection) self->options_.on_connection(true);
    return;
  }
  self->own_tasks_.push_back([self] { self->BecomeReady(); });
  self->cv_.notify_all();
}

void NatsLink::OnClosed(natsConnection*, void* closure) {
  auto* self = static_cast<NatsLink*>(closure);
  std::lock_guard lock(self->mu_);
  self->closed_ = true;
  self->cv_.notify_all();
}

void NatsLink::OnDisconnected(natsConnection*, void* closure) {
  auto* self = static_cast<NatsLink*>(closure);
  if (self->options_.on_connection) self->options_.on_connection(false);
}

}  // namespace meshq::bridge::nats
