// DubboClient and its connections. Encoding and decoding are the wire layer's pure functions
// (dubbo_codec.h); this file owns sockets, request ids, deadlines and the mapping of Dubbo
// outcomes onto CallStatus.
#include "meshq/agent/dubbo_client.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
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
  DubboConnection(asio::io_context& io, const DubboClient::Options& options)
      : io_(io), socket_(io), timer_(io), options_(options) {}

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
                            boost::system::error_code ignored;
                            self->socket_.set_option(tcp::no_delay(true), ignored);
                            self->Read();
                            self->Flush();
                          });
    Tick();
  }

  // Appends the request; `done` runs once. The caller picked an open connection.
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
    ScheduleFlush();
  }

  bool open() const { return !closed_; }
  bool connected() const { return connected_; }
  size_t pending() const { return pending_.size(); }
  void Close() { Fail("closed"); }

 private:
  auto Live() {
    return [this] { return !closed_ && connected_; };
  }
  auto WriteFailed() {
    return [this](const boost::system::error_code& ec) { Fail("write: " + ec.message()); };
  }
  void ScheduleFlush() { ScheduleWrite(socket_, writes_, *this, Live(), WriteFailed()); }
  void Flush() { WritePending(socket_, writes_, *this, Live(), WriteFailed()); }

  void Read() {
    socket_.async_read_some(
        in_.Prepare(), [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
          if (self->closed_) return;
          if (ec) {
            self->Fail(ec == asio::error::eof ? "provider closed the connection"
                                              : "read: " + ec.message());
            return;
          }
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
        // Heartbeat from the provider: answer two-way ones with the same id.
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
      self->pending_.Expire(now, "provider did not answer before the deadline");
      self->Tick();
    });
  }

  void Fail(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    connected_ = false;
    boost::system::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    pending_.FailAll(writes_.batch(), "Dubbo provider " + options_.host + ":" +
                                          std::to_string(options_.port) + ": " + why);
  }

  asio::io_context& io_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  const DubboClient::Options& options_;
  bool connected_ = false;
  bool closed_ = false;
  WriteBatch writes_;
  ReadBuffer in_;
  Clock::time_point started_;
  PendingCalls pending_;
};

DubboClient::DubboClient(asio::io_context& io, Options options)
    : io_(io), options_(std::move(options)) {
  connections_.resize(std::max(1, options_.connections));
}

DubboClient::~DubboClient() { Close(); }

DubboConnection* DubboClient::Pick() {
  // Round-robin over the slots, opening empty ones lazily. After a connection failed, no new one
  // is opened for reconnect_pause: calls fail fast and the consumer retries elsewhere.
  const auto now = Clock::now();
  for (size_t n = 0; n < connections_.size(); ++n) {
    auto& slot = connections_[next_++ % connections_.size()];
    if (slot && slot->open()) return slot.get();
    if (slot) {  // closed by a failure
      slot.reset();
      down_until_ = std::max(down_until_, now + options_.reconnect_pause);
    }
    if (now < down_until_) continue;
    slot = std::make_shared<DubboConnection>(io_, options_);
    slot->Start();
    return slot.get();
  }
  return nullptr;
}

void DubboClient::Invoke(CallRequest request, CallCallback done) {
  DubboConnection* conn = Pick();
  if (conn == nullptr) {
    done(CallResult::Error(CallStatus::kNotExecuted, "Dubbo provider " + options_.host + ":" +
                                                         std::to_string(options_.port) +
                                                         " is unreachable"));
    return;
  }
  conn->Send(next_id_++, request, std::move(done));
}

size_t DubboClient::pending() const {
  size_t n = 0;
  for (const auto& c : connections_) n += c ? c->pending() : 0;
  return n;
}

void DubboClient::Close() {
  for (auto& c : connections_) {
    if (c) c->Close();
  }
}

}  // namespace meshq::agent
