// AgentListener and AgentSession (one per consumer link): decode agent frames, run calls on the
// local invoker, batch the responses of one event-loop turn into one write.
#include "meshq/agent/agent_listener.h"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include "agent_frame.h"
#include "batched_writes.h"
#include "io_threads.h"
#include "meshq/agent/provider_endpoint.h"
#include "meshq/log.h"
#include "meshq/tls_stream.h"
#include "stream_buffers.h"

namespace meshq::agent {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

frame::ResponseStatus ToFrameStatus(CallStatus s) {
  switch (s) {
    case CallStatus::kOk:
      return frame::ResponseStatus::kOk;
    case CallStatus::kBadRequest:
      return frame::ResponseStatus::kBadRequest;
    case CallStatus::kTimeout:
      return frame::ResponseStatus::kTimeout;
    case CallStatus::kNotExecuted:
    case CallStatus::kNoProvider:
      return frame::ResponseStatus::kUnavailable;
    case CallStatus::kProviderError:
      return frame::ResponseStatus::kProviderError;
    case CallStatus::kLost:  // may have run: the consumer must not retry it
      return frame::ResponseStatus::kLost;
    case CallStatus::kTooLarge:
      return frame::ResponseStatus::kTooLarge;
  }
  return frame::ResponseStatus::kProviderError;
}

TlsStream NewStream(tcp::socket socket, const AgentListener::Options& options) {
  return options.tls ? TlsStream(std::move(socket), options.tls) : TlsStream(std::move(socket));
}

}  // namespace

class AgentSession : public std::enable_shared_from_this<AgentSession> {
 public:
  AgentSession(tcp::socket socket, Invoker* local, const AgentListener::Options& options)
      : stream_(NewStream(std::move(socket), options)),
        watchdog_(stream_.get_executor()),
        local_(local),
        max_frame_(options.max_frame),
        silence_limit_(options.silence_limit),
        handshake_timeout_(options.handshake_timeout) {}

  void Start() {
    boost::system::error_code ignored;
    stream_.socket().set_option(tcp::no_delay(true), ignored);
    last_received_ = Clock::now();
    if (!stream_.tls()) {
      handshaken_ = true;
      Read();
      Watch();
      return;
    }
    // Nothing is read as a frame before the peer proved its certificate.
    watchdog_.expires_after(handshake_timeout_);
    watchdog_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec && !self->handshaken_) self->Close();
    });
    stream_.async_handshake(
        asio::ssl::stream_base::server,
        [self = shared_from_this()](const boost::system::error_code& ec) {
          if (self->closed_) return;
          if (ec) {
            boost::system::error_code unknown;
            const auto peer = self->stream_.socket().remote_endpoint(unknown);
            LogEvent(LogLevel::kWarn, "provider", "agent link refused: TLS handshake failed")
                .Field("peer", peer.address().to_string() + ":" + std::to_string(peer.port()))
                .Field("reason", ec.message());
            self->Close();
            return;
          }
          self->handshaken_ = true;
          self->watchdog_.cancel();
          self->last_received_ = Clock::now();
          self->Read();
          self->Watch();
          // The consumer-agent sends calls only once it hears this: the link is accepted.
          frame::AppendPing(0, self->writes_.out());
          self->ScheduleFlush();  // with a GoAway appended meanwhile
        });
  }

  // Tells the consumer to send nothing new; calls arriving anyway are refused as not executed.
  void Drain() {
    if (draining_ || closed_) return;
    draining_ = true;
    frame::AppendGoAway(writes_.out());
    ScheduleFlush();
  }

  size_t pending() const { return pending_; }

 private:
  void Read() {
    stream_.async_read_some(
        in_.Prepare(), [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
          if (self->closed_) return;
          if (ec) {
            self->Close();
            return;
          }
          self->last_received_ = Clock::now();
          self->in_.Commit(n);
          if (self->HandleFrames()) self->Read();
        });
  }

  bool HandleFrames() {
    size_t offset = 0;
    const auto now = Clock::now();
    while (!closed_) {
      auto r = frame::DecodeFrame(in_.data().substr(offset), max_frame_);
      if (r.need_more()) break;
      if (r.failed()) {
        Close();
        return false;
      }
      offset += r.consumed;
      const frame::Frame& f = r.value;
      switch (f.type) {
        case frame::Type::kServiceDef:
          if (!services_.Define(f).ok()) {
            Close();
            return false;
          }
          break;
        case frame::Type::kRequest:
          HandleRequest(f, now);
          break;
        case frame::Type::kPing:
          frame::AppendPong(f.id, writes_.out());
          ScheduleFlush();
          break;
        case frame::Type::kPong:
          break;
        default:
          Close();
          return false;
      }
    }
    in_.Consume(offset);
    return !closed_;
  }

  void HandleRequest(const frame::Frame& f, Clock::time_point now) {
    const frame::ServiceKey* key = services_.Find(f.service_ref);
    if (key == nullptr) {
      Respond(f.id, CallResult::Error(CallStatus::kBadRequest, "unknown service ref"));
      return;
    }
    if (draining_) {
      Respond(f.id, CallResult::Error(CallStatus::kNotExecuted, "provider-agent is shutting down"));
      return;
    }
    CallRequest call;
    call.interface_name = key->interface_name;
    call.method = key->method;
    call.parameter_types = key->parameter_types;
    call.parameter.assign(f.payload);
    if (f.deadline_ms != 0) call.deadline = now + std::chrono::milliseconds(f.deadline_ms);
    ++pending_;
    local_->Invoke(std::move(call), [self = shared_from_this(), id = f.id](CallResult result) {
      --self->pending_;
      self->Respond(id, result);
    });
  }

  void Respond(uint64_t id, const CallResult& result) {
    if (closed_) return;
    // The consumer-agent treats an over-limit frame as a corrupt stream: one oversized answer
    // would take down every call on the link. Only this call fails (as Dubbo's encoder rejects
    // an over-limit response).
    if (kResponseOverhead + result.body.size() > max_frame_) {
      frame::AppendResponse(id, frame::ResponseStatus::kTooLarge,
                            "answer of " + std::to_string(result.body.size()) +
                                " bytes exceeds the agent frame limit of " +
                                std::to_string(max_frame_) + " bytes (--max-frame-bytes)",
                            writes_.out());
    } else {
      frame::AppendResponse(id, ToFrameStatus(result.status), result.body, writes_.out());
    }
    ScheduleFlush();
  }

  // Type, request id and status: what a response frame's length counts besides the result.
  static constexpr std::size_t kResponseOverhead = 1 + 8 + 1;

  // Finds half-open links (the consumer-agent's host vanished): they would hold a socket and
  // answer into the void forever.
  void Watch() {
    watchdog_.expires_at(last_received_ + silence_limit_);
    watchdog_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->closed_) return;
      if (Clock::now() - self->last_received_ >= self->silence_limit_) {
        self->Close();
        return;
      }
      self->Watch();
    });
  }

  void ScheduleFlush() {
    // Nothing goes out before the handshake (a GoAway of a drain may wait for it).
    ScheduleWrite(
        stream_, writes_, *this, [this] { return !closed_ && handshaken_; },
        [this](const boost::system::error_code&) { Close(); });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    stream_.Close();
    watchdog_.cancel();
  }

  TlsStream stream_;
  asio::steady_timer watchdog_;
  Invoker* local_;
  const std::size_t max_frame_;
  const std::chrono::milliseconds silence_limit_;
  const std::chrono::milliseconds handshake_timeout_;
  bool handshaken_ = false;
  Clock::time_point last_received_;
  frame::ServiceTable services_;
  bool closed_ = false;
  bool draining_ = false;
  size_t pending_ = 0;
  ReadBuffer in_;
  WriteBatch writes_;
};

AgentListener::AgentListener(asio::io_context& io, std::shared_ptr<std::string> listen,
                             Options options)
    : io_(io),
      listen_(std::move(listen)),
      options_(options),
      acceptor_(io),
      backoff_(io),
      accept_guard_("meshq-agent") {}

AgentListener::~AgentListener() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  backoff_.cancel();
}

ProviderTransportFactory AgentListener::Factory(std::string listen, Options options) {
  auto shared_listen = std::make_shared<std::string>(std::move(listen));
  return [shared_listen, options](asio::io_context& io, int) {
    return std::make_unique<AgentListener>(io, shared_listen, options);
  };
}

Status AgentListener::Start(Invoker* local) {
  local_ = local;
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(*listen_, &host, &port)) {
    return Status::InvalidArgument("bad listen address: " + *listen_);
  }
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument("bad listen host: " + host);
  acceptor_ = ListenReusePort(io_, tcp::endpoint(addr, port), ec);
  if (ec) return Status::IOError("listen on " + *listen_ + ": " + ec.message());
  address_ = host + ":" + std::to_string(acceptor_.local_endpoint().port());
  *listen_ = address_;
  Accept();
  return Status::OK();
}

std::string AgentListener::address() const { return address_; }

void AgentListener::Accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec && AcceptGuard::IsExhaustion(ec.value())) {
      // Retrying at once would fail again (the connection stays queued): shed, then wait.
      backoff_.expires_after(accept_guard_.OnError(acceptor_.native_handle(), ec.value()));
      backoff_.async_wait([this](const boost::system::error_code& e) {
        if (!e && acceptor_.is_open()) Accept();
      });
      return;
    }
    if (!ec) {
      accept_guard_.OnSuccess();
      auto session = std::make_shared<AgentSession>(std::move(socket), local_, options_);
      session->Start();
      if (draining_) session->Drain();
      // Forget sessions that ended, so the list stays as long as the live links.
      std::erase_if(sessions_, [](const auto& w) { return w.expired(); });
      sessions_.push_back(session);
    }
    Accept();
  });
}

void AgentListener::Drain() {
  draining_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  backoff_.cancel();
  for (auto& w : sessions_) {
    if (auto s = w.lock()) s->Drain();
  }
}

size_t AgentListener::pending() const {
  size_t n = 0;
  for (const auto& w : sessions_) {
    if (auto s = w.lock()) n += s->pending();
  }
  return n;
}

}  // namespace meshq::agent
