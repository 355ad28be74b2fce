// AgentLink: connect, batch writes, decode responses, enforce deadlines and liveness. Everything
// runs on the link's io_context thread; handlers hold a shared_ptr so the link lives while I/O is
// outstanding.
#include "agent_link.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include "batched_writes.h"
#include "meshq/tls.h"

namespace meshq::agent {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

CallStatus ToCallStatus(frame::ResponseStatus s) {
  switch (s) {
    case frame::ResponseStatus::kOk:
      return CallStatus::kOk;
    case frame::ResponseStatus::kProviderError:
      return CallStatus::kProviderError;
    case frame::ResponseStatus::kTimeout:
      return CallStatus::kTimeout;
    case frame::ResponseStatus::kUnavailable:
    case frame::ResponseStatus::kOverloaded:
      return CallStatus::kNotExecuted;
    case frame::ResponseStatus::kBadRequest:
      return CallStatus::kBadRequest;
    case frame::ResponseStatus::kLost:
      return CallStatus::kLost;
    case frame::ResponseStatus::kTooLarge:
      return CallStatus::kTooLarge;
  }
  return CallStatus::kProviderError;
}

TlsStream NewStream(asio::io_context& io, const AgentLinkOptions& options) {
  return options.tls ? TlsStream(tcp::socket(io), options.tls) : TlsStream(tcp::socket(io));
}

}  // namespace

AgentLink::AgentLink(asio::io_context& io, std::string host, uint16_t port, Options options,
                     DownHandler on_down)
    : io_(io),
      stream_(NewStream(io, options)),
      timer_(io),
      host_(std::move(host)),
      port_(port),
      options_(options),
      on_down_(std::move(on_down)) {}

AgentLink::~AgentLink() = default;

void AgentLink::Start() {
  started_ = Clock::now();
  last_received_ = started_;
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(host_, ec);
  if (ec) {
    // Not a literal address: resolve synchronously (rare: registries carry IPs).
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(host_, std::to_string(port_), ec);
    if (ec || results.empty()) {
      asio::post(io_, [self = shared_from_this(), ec] {
        self->OnConnected(ec ? ec : asio::error::host_not_found);
      });
      return;
    }
    stream_.socket().async_connect(results.begin()->endpoint(),
                                   [self = shared_from_this()](auto e) { self->OnConnected(e); });
  } else {
    stream_.socket().async_connect(tcp::endpoint(addr, port_),
                                   [self = shared_from_this()](auto e) { self->OnConnected(e); });
  }
  Tick();
}

void AgentLink::OnConnected(const boost::system::error_code& ec) {
  if (closed_) return;
  if (ec) {
    Fail(true, "connect " + host_ + ":" + std::to_string(port_) + ": " + ec.message());
    return;
  }
  boost::system::error_code ignored;
  stream_.socket().set_option(tcp::no_delay(true), ignored);
  if (!stream_.tls()) {
    connected_ = true;
    last_received_ = Clock::now();
    Read();
    Flush();
    return;
  }
  // The provider-agent must prove the address the registry gave for it (a registry entry alone
  // cannot redirect calls to another holder of a mesh certificate), unless told another name.
  Status s = SetTlsPeerName(stream_.native_handle(),
                            options_.tls_server_name.empty() ? host_ : options_.tls_server_name);
  if (!s.ok()) {
    Fail(true, "TLS to " + host_ + ":" + std::to_string(port_) + ": " + s.ToString());
    return;
  }
  stream_.async_handshake(asio::ssl::stream_base::client,
                          [self = shared_from_this()](auto e) { self->OnHandshake(e); });
}

void AgentLink::OnHandshake(const boost::system::error_code& ec) {
  if (closed_) return;
  if (ec) {
    Fail(true, "TLS handshake with " + host_ + ":" + std::to_string(port_) + ": " + ec.message());
    return;
  }
  last_received_ = Clock::now();
  // TLS 1.3 ends the client's handshake before the provider-agent has checked this link's
  // certificate: a refusal would only show after calls were written (and count as lost). A
  // TLS provider-agent pings first once it accepted the link; calls wait for that.
  Read();
}

void AgentLink::Send(const CallRequest& request, CallCallback done) {
  if (!usable()) {
    done(CallResult::Error(CallStatus::kNotExecuted, "provider-agent link is closed"));
    return;
  }
  // Type, id, deadline and service ref besides the parameter: the provider-agent closes the link
  // on a longer frame, so refuse this call alone.
  constexpr size_t kRequestOverhead = 1 + 8 + 4 + 2;
  if (kRequestOverhead + request.parameter.size() > options_.max_frame) {
    done(CallResult::Error(CallStatus::kBadRequest,
                           "parameter of " + std::to_string(request.parameter.size()) +
                               " bytes exceeds the agent frame limit of " +
                               std::to_string(options_.max_frame) + " bytes"));
    return;
  }
  uint16_t ref = 0;
  Status s = interner_.Intern(request.interface_name, request.method, request.parameter_types,
                              writes_.out(), &ref);
  if (!s.ok()) {
    done(CallResult::Error(CallStatus::kBadRequest, s.ToString()));
    return;
  }
  uint32_t deadline_ms = 0;
  if (request.deadline != Clock::time_point::max()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(request.deadline - Clock::now());
    deadline_ms = static_cast<uint32_t>(std::max<int64_t>(1, left.count()));
  }
  const uint64_t id = next_id_++;
  frame::AppendRequest(id, ref, deadline_ms, request.parameter, writes_.out());
  pending_.Add(id, std::move(done), writes_.batch(), request.deadline);
  ScheduleFlush();
}

// Every call made in this event-loop turn (pipelined HTTP requests, many ready connections)
// shares one write.
void AgentLink::ScheduleFlush() {
  ScheduleWrite(
      stream_, writes_, *this, [this] { return WritesLive(); },
      [this](const boost::system::error_code& ec) { WriteFailed(ec); });
}

void AgentLink::Flush() {
  WritePending(
      stream_, writes_, *this, [this] { return WritesLive(); },
      [this](const boost::system::error_code& ec) { WriteFailed(ec); });
}

void AgentLink::WriteFailed(const boost::system::error_code& ec) {
  Fail(true, "write to provider-agent: " + ec.message());
}

void AgentLink::Read() {
  stream_.async_read_some(
      in_.Prepare(), [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
        if (self->closed_) return;
        if (ec) {
          if (!self->connected_) {
            self->Fail(true, "TLS: the provider-agent refused the link: " + ec.message());
            return;
          }
          self->Fail(!self->draining_ || !self->pending_.empty(),
                     ec == asio::error::eof ? "provider-agent closed the connection"
                                            : "read from provider-agent: " + ec.message());
          return;
        }
        self->in_.Commit(n);
        self->last_received_ = Clock::now();
        if (!self->connected_) {  // TLS: the provider-agent's first frame accepts the link
          self->connected_ = true;
          self->Flush();
        }
        if (!self->HandleFrames()) return;
        if (!self->closed_) self->Read();
      });
}

bool AgentLink::HandleFrames() {
  size_t offset = 0;
  while (!closed_) {
    auto r = frame::DecodeFrame(in_.data().substr(offset), options_.max_frame);
    if (r.need_more()) break;
    if (r.failed()) {
      Fail(true, "bad frame from provider-agent: " + r.error.ToString());
      return false;
    }
    offset += r.consumed;
    const frame::Frame& f = r.value;
    switch (f.type) {
      case frame::Type::kResponse: {
        CallCallback done = pending_.Take(f.id);
        if (!done) break;  // timed out earlier: the late answer is dropped
        CallResult result{ToCallStatus(f.status), std::string(f.payload)};
        if (result.status != CallStatus::kOk && result.body.empty()) {
          result.body = frame::ResponseStatusName(f.status);
        }
        done(std::move(result));
        break;
      }
      case frame::Type::kPing:
        frame::AppendPong(f.id, writes_.out());
        ScheduleFlush();
        break;
      case frame::Type::kPong:
        break;
      case frame::Type::kGoAway:
        draining_ = true;
        if (on_down_) {
          auto handler = std::move(on_down_);
          on_down_ = nullptr;
          handler(this, true);  // eject: the provider is going away
        }
        break;
      default:
        Fail(true, "unexpected frame type from provider-agent");
        return false;
    }
  }
  in_.Consume(offset);
  MaybeFinishDrain();
  return !closed_;
}

void AgentLink::Tick() {
  timer_.expires_after(std::chrono::milliseconds(100));
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->closed_) return;
    const auto now = Clock::now();
    if (!self->connected_ && now - self->started_ > self->options_.connect_timeout) {
      self->Fail(true,
                 "connect " + self->host_ + ":" + std::to_string(self->port_) + ": timed out");
      return;
    }
    if (self->connected_ && now - self->last_received_ > self->options_.dead_after) {
      self->Fail(true, "provider-agent silent for too long");
      return;
    }
    self->pending_.Expire(now, "no answer from provider before the deadline");
    if (self->connected_ && now - self->last_received_ > self->options_.ping_interval) {
      frame::AppendPing(++self->ping_nonce_, self->writes_.out());
      self->ScheduleFlush();
    }
    self->MaybeFinishDrain();
    if (!self->closed_) self->Tick();
  });
}

void AgentLink::Retire() {
  draining_ = true;
  on_down_ = nullptr;  // the owner already forgot this link
  MaybeFinishDrain();
}

void AgentLink::MaybeFinishDrain() {
  if (draining_ && !closed_ && pending_.empty()) Fail(false, "drained");
}

void AgentLink::Close() {
  if (!closed_) Fail(false, "link closed");
}

void AgentLink::Fail(bool failed, const std::string& why) {
  if (closed_) return;
  closed_ = true;
  connected_ = false;
  stream_.Close();
  timer_.cancel();
  // Callbacks may re-enter the owner (a retry on another link).
  pending_.FailAll(writes_.batch(),
                   "provider-agent " + host_ + ":" + std::to_string(port_) + ": " + why);
  if (on_down_) {
    auto handler = std::move(on_down_);
    on_down_ = nullptr;
    handler(this, failed);
  }
}

}  // namespace meshq::agent
