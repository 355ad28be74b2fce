// DubboClient and its connections. Encoding and decoding are the wire layer's pure functions
// (dubbo_codec.h); this file owns sockets, request ids, deadlines and the mapping of Dubbo
// outcomes onto CallStatus.
#include "meshq/agent/dubbo_client.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <functional>

#include "batched_writes.h"
#include "dubbo_codec.h"
#include "pending_calls.h"
#include "stream_buffers.h"

namespace meshq::agent {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

CallResult FromDubbo(const dubbo::Response& r) {
  using Outcome = dubbo::Response::Outcome;
  switch (r.outcome) {
    case Outcome::kValue:
    case Outcome::kNull:
      return CallResult::Ok(dubbo::ResponseText(r));
    case Outcome::kException:
      return CallResult::Error(CallStatus::kProviderError, r.message);
    case Outcome::kError:
      break;
  }
  std::string reason = std::string(dubbo::ResponseStatusName(r.status)) + ": " + r.message;
  switch (static_cast<dubbo::ResponseStatus>(r.status)) {
    case dubbo::ResponseStatus::kClientTimeout:
    case dubbo::ResponseStatus::kServerTimeout:
      return CallResult::Error(CallStatus::kTimeout, std::move(reason));
    case dubbo::ResponseStatus::kServerThreadpoolExhausted:
      return CallResult::Error(CallStatus::kNotExecuted, std::move(reason));
    case dubbo::ResponseStatus::kBadRequest:
      return CallResult::Error(CallStatus::kBadRequest, std::move(reason));
    default:
      return CallResult::Error(CallStatus::kProviderError, std::move(reason));
  }
}

}  // namespace

class DubboConnection : public std::enable_shared_from_this<DubboConnection> {
 public:
  // `on_up` runs once the connection is established, `on_down` once when it closes, both on the
  // connection's thread. `worked`: it was established and carried a call, received something or
  // stayed up for kProvenAfter; a peer that accepts and drops every idle connection at once
  // never "worked", so it is retried with backoff rather than in a loop.
  using UpHandler = std::function<void(DubboConnection*)>;
  using DownHandler = std::function<void(DubboConnection*, bool worked, const std::string& why)>;
  static constexpr std::chrono::seconds kProvenAfter{1};

  DubboConnection(asio::io_context& io, const DubboClient::Options& options,
                  std::shared_ptr<uint64_t> ids, UpHandler on_up, DownHandler on_down)
      : io_(io),
        socket_(io),
        timer_(io),
        options_(options),
        ids_(std::move(ids)),
        on_up_(std::move(on_up)),
        on_down_(std::move(on_down)) {}

  void Start() {
    started_ = Clock::now();
    boost::system::error_code ec;
    const auto addr = asio::ip::make_address(options_.host, ec);
    if (ec) {
      asio::post(io_, [self = shared_from_this()] { self->Fail("bad provider address"); });
      return;
    }
    socket_.async_connect(tcp::endpoint(addr, options_.port),
                          [self = shared_from_this()](const boost::system::error_code& e) {
                            if (self->closed_) return;
                            if (e) {
                              self->Fail("connect: " + e.message());
                              return;
                            }
                            self->connected_ = true;
                            self->up_since_ = Clock::now();
                            self->last_received_ = self->last_sent_ = self->up_since_;
                            boost::system::error_code ignored;
                            self->socket_.set_option(tcp::no_delay(true), ignored);
                            self->Read();
                            if (self->on_up_) self->on_up_(self.get());
                          });
    Tick();
  }

  // Appends the request; `done` runs once. The caller picked a connected connection.
  void Send(uint64_t id, const CallRequest& request, CallCallback done) {
    const std::string_view args[] = {request.parameter};
    dubbo::Call call;
    call.service = request.interface_name;
    call.method = request.method;
    call.parameter_types = request.parameter_types;
    call.arguments = args;
    Status s = dubbo::AppendRequest(id, call, writes_.out());
    if (!s.ok()) {
      done(CallResult::Error(CallStatus::kBadRequest, std::string(s.message())));
      return;
    }
    pending_.Add(id, std::move(done), writes_.batch(), request.deadline);
    used_ = true;
    ScheduleFlush();
  }

  bool open() const { return !closed_; }
  bool connected() const { return connected_; }
  size_t pending() const { return pending_.size(); }
  // Closes without telling the owner (it is closing).
  void Close() {
    on_down_ = nullptr;
    Fail("closed");
  }

 private:
  auto Live() {
    return [this] { return !closed_ && connected_; };
  }
  auto WriteFailed() {
    return [this](const boost::system::error_code& ec) { Fail("write: " + ec.message()); };
  }
  void ScheduleFlush() {
    last_sent_ = Clock::now();
    ScheduleWrite(socket_, writes_, *this, Live(), WriteFailed());
  }

  void Read() {
    socket_.async_read_some(
        in_.Prepare(), [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
          if (self->closed_) return;
          if (ec) {
            self->Fail(ec == asio::error::eof ? "provider closed the connection"
                                              : "read: " + ec.message());
            return;
          }
          self->last_received_ = Clock::now();
          self->received_any_ = true;
          self->in_.Commit(n);
          if (self->HandleFrames()) self->Read();
        });
  }

  bool HandleFrames() {
    size_t offset = 0;
    while (!closed_) {
      auto r = dubbo::DecodeFrame(in_.data().substr(offset));
      if (r.need_more()) break;
      if (r.failed()) {
        Fail("bad Dubbo frame: " + r.error.ToString());
        return false;
      }
      offset += r.consumed;
      const dubbo::Frame& f = r.value;
      if (f.header.is_event()) {
        // Heartbeat from the provider: answer two-way ones with the same id. Answers to ours
        // need nothing more: receiving them is what keeps the connection alive.
        if (f.header.is_request() && f.header.is_twoway()) {
          dubbo::AppendHeartbeat(f.header.id, false, writes_.out());
          ScheduleFlush();
        }
        continue;
      }
      if (f.header.is_request()) continue;  // a provider does not call us; ignore
      CallCallback done = pending_.Take(f.header.id);
      if (!done) continue;  // timed out earlier
      dubbo::Response response;
      Status s = dubbo::DecodeResponse(f, &response, /*want_attachments=*/false);
      if (!s.ok()) {
        done(CallResult::Error(CallStatus::kProviderError,
                               "undecodable Dubbo response: " + s.ToString()));
      } else {
        done(FromDubbo(response));
      }
    }
    in_.Consume(offset);
    return !closed_;
  }

  void Tick() {
    timer_.expires_after(std::chrono::milliseconds(100));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->closed_) return;
      const auto now = Clock::now();
      if (!self->connected_ && now - self->started_ > self->options_.connect_timeout) {
        self->Fail("connect: timed out");
        return;
      }
      if (self->connected_ && !self->Heartbeat(now)) return;
      self->pending_.Expire(now, "provider did not answer before the deadline");
      self->Tick();
    });
  }

  // Dubbo's consumer-side liveness: false when the connection was closed for silence.
  bool Heartbeat(Clock::time_point now) {
    const auto interval = options_.heartbeat_interval;
    if (interval.count() <= 0) return true;
    if (now - last_received_ >= interval * std::max(1, options_.heartbeat_misses)) {
      Fail("no answer to " + std::to_string(options_.heartbeat_misses) + " heartbeats");
      return false;
    }
    if ((now - last_received_ >= interval || now - last_sent_ >= interval) &&
        now - last_heartbeat_ >= interval) {
      last_heartbeat_ = now;
      dubbo::AppendHeartbeat((*ids_)++, /*is_request=*/true, writes_.out());
      ScheduleFlush();
    }
    return true;
  }

  void Fail(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    const bool worked =
        connected_ && (used_ || received_any_ || Clock::now() - up_since_ >= kProvenAfter);
    connected_ = false;
    boost::system::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    pending_.FailAll(writes_.batch(), "Dubbo provider " + options_.host + ":" +
                                          std::to_string(options_.port) + ": " + why);
    if (on_down_) {
      auto handler = std::move(on_down_);
      on_down_ = nullptr;
      handler(this, worked, why);
    }
  }

  asio::io_context& io_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  const DubboClient::Options& options_;
  std::shared_ptr<uint64_t> ids_;
  UpHandler on_up_;
  DownHandler on_down_;
  bool connected_ = false;
  bool closed_ = false;
  bool received_any_ = false;
  bool used_ = false;  // a call was sent on it
  WriteBatch writes_;
  ReadBuffer in_;
  Clock::time_point started_;
  Clock::time_point up_since_;
  Clock::time_point last_received_;
  Clock::time_point last_sent_;
  Clock::time_point last_heartbeat_{};
  PendingCalls pending_;
};

DubboClient::DubboClient(asio::io_context& io, Options options)
    : io_(io),
      options_(std::move(options)),
      retry_timer_(io),
      jitter_(std::random_device{}()),
      next_id_(std::make_shared<uint64_t>(1)),
      self_(std::make_shared<DubboClient*>(this)) {
  connections_.resize(std::max(1, options_.connections));
}

DubboClient::~DubboClient() {
  *self_ = nullptr;
  Close();
}

std::string DubboClient::Name() const {
  return "Dubbo provider " + options_.host + ":" + std::to_string(options_.port);
}

DubboConnection* DubboClient::PickConnected() {
  for (size_t n = 0; n < connections_.size(); ++n) {
    auto& slot = connections_[next_++ % connections_.size()];
    if (slot && slot->connected()) return slot.get();
  }
  return nullptr;
}

bool DubboClient::AnyConnecting() const {
  for (const auto& c : connections_) {
    if (c && c->open() && !c->connected()) return true;
  }
  return false;
}

void DubboClient::Fill() {
  for (auto& slot : connections_) {
    if (slot && slot->open()) continue;
    auto guard = self_;
    slot = std::make_shared<DubboConnection>(
        io_, options_, next_id_,
        [guard](DubboConnection* c) {
          if (DubboClient* client = *guard) client->OnUp(c);
        },
        [guard](DubboConnection* c, bool worked, const std::string& why) {
          if (DubboClient* client = *guard) client->OnDown(c, worked, why);
        });
    slot->Start();
  }
}

void DubboClient::OnUp(DubboConnection* conn) {
  // failed_connects_ is not reset here: a peer that accepts and drops at once would restart the
  // backoff on every attempt. Only a connection that worked resets it (OnDown).
  auto waiting = std::move(waiting_);
  waiting_.clear();
  const auto now = Clock::now();
  for (auto& w : waiting) {
    if (w.request.deadline <= now) {
      w.done(CallResult::Error(CallStatus::kNotExecuted,
                               Name() + ": deadline passed while connecting (call not sent)"));
      continue;
    }
    conn->Send((*next_id_)++, w.request, std::move(w.done));
  }
}

void DubboClient::OnDown(DubboConnection*, bool worked, const std::string& why) {
  if (closed_) return;
  last_error_ = why;
  if (worked) {
    failed_connects_ = 0;
    // A provider closing a connection (idle timeout, restart, heartbeat silence) is healthy
    // until a connect fails: reopen now, in the background, so the next call finds it up.
    Fill();
    return;
  }
  ++failed_connects_;
  const auto pause = NextBackoff();
  next_attempt_ = Clock::now() + pause;
  if (!AnyConnecting()) FailWaiting(why);
  retry_timer_.expires_after(pause);
  retry_timer_.async_wait([guard = self_](const boost::system::error_code& ec) {
    if (ec) return;
    DubboClient* client = *guard;
    if (client == nullptr || client->closed_) return;
    if (Clock::now() >= client->next_attempt_) client->Fill();
  });
}

std::chrono::milliseconds DubboClient::NextBackoff() {
  const int doublings = std::min(failed_connects_ - 1, 20);
  const auto base = std::min<int64_t>(options_.reconnect_backoff.count() << doublings,
                                      options_.max_reconnect_backoff.count());
  std::uniform_int_distribution<int64_t> spread(base / 2, base + base / 2);
  return std::chrono::milliseconds(std::max<int64_t>(1, spread(jitter_)));
}

void DubboClient::FailWaiting(const std::string& why) {
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& w : waiting) {
    w.done(CallResult::Error(CallStatus::kNotExecuted,
                             Name() + " is unreachable: " + why + " (call not sent)"));
  }
}

void DubboClient::Invoke(CallRequest request, CallCallback done) {
  if (DubboConnection* conn = PickConnected()) {
    conn->Send((*next_id_)++, request, std::move(done));
    return;
  }
  if (!closed_ && Clock::now() >= next_attempt_) Fill();
  if (!closed_ && AnyConnecting()) {
    waiting_.push_back(Waiting{std::move(request), std::move(done)});
    return;
  }
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - Clock::now());
  done(CallResult::Error(
      CallStatus::kNotExecuted,
      Name() + " is unreachable: " + (closed_ ? std::string("client closed") : last_error_) +
          (closed_ ? "" : "; next connect attempt in " + std::to_string(left.count()) + " ms")));
}

size_t DubboClient::pending() const {
  size_t n = waiting_.size();
  for (const auto& c : connections_) n += c ? c->pending() : 0;
  return n;
}

void DubboClient::Close() {
  if (closed_) return;
  closed_ = true;
  retry_timer_.cancel();
  FailWaiting("client closed");
  for (auto& c : connections_) {
    if (c) c->Close();
  }
}

}  // namespace meshq::agent
