// BrokerClient: connect/reconnect, pipelined request table, frame I/O.
#include "meshq/bridge/broker_client.h"

#include <charconv>
#include <cstring>

#include "meshq/bridge/wire.h"
#include "meshq/coding.h"

namespace meshq::bridge {
namespace asio = boost::asio;

namespace {
constexpr size_t kReadChunk = 64 * 1024;
}  // namespace

bool ParseBrokerAddress(std::string_view text, BrokerAddress* out) {
  BrokerAddress a;
  a.tls = out->tls;
  a.tls_server_name = out->tls_server_name;
  size_t colon = text.rfind(':');
  std::string_view port = text;
  if (colon != std::string_view::npos) {
    if (colon > 0) a.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535) {
    return false;
  }
  a.port = static_cast<uint16_t>(value);
  *out = a;
  return true;
}

Status SetBrokerTls(const TlsClientOptions& options, BrokerAddress* address) {
  if (!options.enabled()) return Status::OK();
  Status s = MakeTlsClientContext(options, &address->tls);
  if (s.ok()) address->tls_server_name = options.server_name;
  return s;
}

Status StatusFromErrorFrame(const Frame& frame) {
  std::string_view msg = frame.body;
  switch (frame.header.status) {
    case 1:
      return Status::InvalidArgument(msg);
    case 2:
      return Status::IOError(msg);
    case 3:
      return Status::Corruption(msg);
    case 4:
      return Status::NotFound(msg);
    case 5:
      return Status::Busy(msg);
    case 6:
      return Status::Closed(msg);
    case 7:
      return Status::TimedOut(msg);
    case 8:
      return Status::Unavailable(msg);
    case 9:
      return Status::PermissionDenied(msg);
    default:
      return Status::Corruption("broker: " + std::string(msg));
  }
}

std::shared_ptr<BrokerClient> BrokerClient::Create(asio::io_context& io, BrokerAddress address) {
  return std::shared_ptr<BrokerClient>(new BrokerClient(io, std::move(address)));
}

BrokerClient::BrokerClient(asio::io_context& io, BrokerAddress address)
    : io_(io),
      address_(std::move(address)),
      stream_(std::make_shared<TlsStream>(asio::ip::tcp::socket(io))),
      retry_timer_(io) {
  in_.resize(kReadChunk);
}

BrokerClient::~BrokerClient() = default;

void BrokerClient::Start(std::chrono::milliseconds retry_delay) {
  if (started_) return;
  started_ = true;
  retry_delay_ = retry_delay;
  Connect();
}

void BrokerClient::Close() {
  if (closed_) return;
  closed_ = true;
  retry_timer_.cancel();
  stream_->Close();
  bool was_connected = connected_;
  connected_ = false;
  FailPending(Status::Closed("broker client closed"));
  if (was_connected && on_connection_) on_connection_(false);
}

void BrokerClient::Connect() {
  if (closed_) return;
  boost::system::error_code ec;
  asio::ip::tcp::endpoint ep(asio::ip::make_address(address_.host, ec), address_.port);
  if (ec) return ScheduleReconnect(Status::InvalidArgument("bad broker host " + address_.host));
  asio::ip::tcp::socket socket(io_);
  stream_ = address_.tls ? std::make_shared<TlsStream>(std::move(socket), address_.tls)
                         : std::make_shared<TlsStream>(std::move(socket));
  if (stream_->tls()) {
    const std::string& name =
        address_.tls_server_name.empty() ? address_.host : address_.tls_server_name;
    Status s = SetTlsPeerName(stream_->native_handle(), name);
    if (!s.ok()) return ScheduleReconnect(s);
  }
  stream_->socket().async_connect(ep, [self = shared_from_this(),
                                       stream = stream_](boost::system::error_code cec) {
    if (self->closed_ || stream != self->stream_) return;
    if (cec) return self->ScheduleReconnect(Status::Unavailable("connect: " + cec.message()));
    boost::system::error_code oec;
    stream->socket().set_option(asio::ip::tcp::no_delay(true), oec);
    if (!stream->tls()) return self->OnConnected();
    stream->async_handshake(
        asio::ssl::stream_base::client, [self, stream](boost::system::error_code hec) {
          if (self->closed_ || stream != self->stream_) return;
          if (hec) {
            stream->Close();
            return self->ScheduleReconnect(Status::Unavailable("tls handshake: " + hec.message()));
          }
          self->OnConnected();
        });
  });
}

void BrokerClient::OnConnected() {
  connected_ = true;
  last_error_ = Status::OK();
  ++generation_;
  in_begin_ = in_end_ = 0;
  DoRead();
  if (on_connection_) on_connection_(true);
}

void BrokerClient::ScheduleReconnect(Status why) {
  last_error_ = std::move(why);
  if (closed_) return;
  retry_timer_.expires_after(retry_delay_);
  retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->Connect();
  });
}

void BrokerClient::OnConnectionLost(const boost::system::error_code& ec) {
  if (!connected_) return;
  connected_ = false;
  ++generation_;
  stream_->Close();
  out_.clear();
  // The reason says, e.g., that the broker refused this client's certificate (under TLS 1.3 a
  // client learns it only after its side of the handshake is done).
  Status lost = Status::Unavailable("connection to broker lost (" + ec.message() + ")");
  FailPending(lost);
  if (on_connection_) on_connection_(false);
  ScheduleReconnect(lost);
}

void BrokerClient::FailPending(const Status& s) {
  auto pending = std::move(pending_);
  pending_.clear();
  Frame none;
  for (auto& [id, handler] : pending) handler(s, none);
}

void BrokerClient::Send(FrameType type, uint8_t flags, const std::string& body,
                        FrameHandler handler) {
  if (!connected_) {
    Frame none;
    if (handler) {
      handler(closed_ ? Status::Closed("broker client closed")
                      : Status::Unavailable("not connected to broker"),
              none);
    }
    return;
  }
  FrameHeader h;
  h.type = type;
  h.flags = flags;
  h.request_id = next_request_id_++;
  if (handler) pending_.emplace(h.request_id, std::move(handler));  // none: no answer expected
  AppendFrame(h, body, &out_);
  DoWrite();
}

void BrokerClient::DoWrite() {
  if (!writing_.empty() || out_.empty() || !connected_) return;
  writing_.swap(out_);
  asio::async_write(*stream_, asio::buffer(writing_),
                    [self = shared_from_this(), gen = generation_, stream = stream_](
                        boost::system::error_code ec, size_t) {
                      self->writing_.clear();
                      // A write of an earlier connection: its requests already failed; what
                      // the new connection queued meanwhile waits for this buffer.
                      if (gen != self->generation_) return self->DoWrite();
                      if (ec) return self->OnConnectionLost(ec);
                      self->DoWrite();
                    });
}

void BrokerClient::DoRead() {
  if (in_begin_ > 0) {
    std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  if (in_.size() - in_end_ < kReadChunk / 4) in_.resize(in_.size() * 2);
  stream_->async_read_some(
      asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
      [self = shared_from_this(), gen = generation_, stream = stream_](boost::system::error_code ec,
                                                                       size_t n) {
        if (gen != self->generation_) return;
        if (ec) return self->OnConnectionLost(ec);
        self->in_end_ += n;
        // Every TLS record already here first: the requests their callbacks make then leave
        // together.
        if (stream->HasBufferedInput() && self->in_.size() - self->in_end_ >= kReadChunk / 4) {
          return self->DoRead();
        }
        for (;;) {
          std::string_view input(self->in_.data() + self->in_begin_,
                                 self->in_end_ - self->in_begin_);
          DecodeResult<Frame> r = DecodeFrame(input);
          if (r.need_more()) break;
          if (r.failed()) {
            return self->OnConnectionLost(make_error_code(boost::system::errc::bad_message));
          }
          self->in_begin_ += r.consumed;
          const Frame& frame = r.value;
          auto it = self->pending_.find(frame.header.request_id);
          if (it == self->pending_.end()) continue;  // e.g. an error about a bad frame
          FrameHandler handler = std::move(it->second);
          self->pending_.erase(it);
          // The frame's body stays valid: nothing reads into in_ until this loop is done.
          handler(
              frame.header.type == FrameType::kError ? StatusFromErrorFrame(frame) : Status::OK(),
              frame);
          if (gen != self->generation_) return;  // the handler closed the connection
        }
        self->DoRead();
      });
}

void BrokerClient::Put(std::string_view queue, const std::vector<PutMessage>& messages,
                       uint8_t flags, std::string_view group, PutCallback done) {
  body_.clear();
  EncodePutRequest(PutRequest{queue, group, messages}, flags, &body_);
  Send(FrameType::kPut, flags, body_, [done = std::move(done)](const Status& s, const Frame& f) {
    PutAnswer answer;
    if (!s.ok()) {
      if (f.header.status == kStatusNoConsumers && f.header.type == FrameType::kError) {
        answer.no_consumers = true;
        return done(Status::OK(), answer);
      }
      return done(s, answer);
    }
    Status d = DecodePutReply(f.body, &answer.results);
    done(d, answer);
  });
}

namespace {

// Decodes a MESSAGES answer for a Get/Fetch/GroupFetch callback.
std::function<void(const Status&, const Frame&)> MessagesHandler(
    BrokerClient::MessagesCallback done) {
  return [done = std::move(done)](const Status& s, const Frame& f) {
    MessagesReply reply;
    if (!s.ok()) return done(s, reply);
    Status d = DecodeMessagesReply(f.body, &reply);
    done(d, reply);
  };
}

}  // namespace

void BrokerClient::Get(std::string_view queue, uint64_t offset, uint32_t max_count,
                       MessagesCallback done, uint8_t flags) {
  Fetch(queue, offset, max_count, 0, std::move(done), flags);
}

void BrokerClient::Fetch(std::string_view queue, uint64_t offset, uint32_t max_count,
                         uint32_t wait_ms, MessagesCallback done, uint8_t flags) {
  body_.clear();
  EncodeReadRequest(ReadRequest{queue, offset, max_count, wait_ms}, &body_);
  Send(wait_ms ? FrameType::kFetch : FrameType::kGet, flags, body_,
       MessagesHandler(std::move(done)));
}

void BrokerClient::GroupFetch(std::string_view queue, std::string_view group, uint32_t max_count,
                              uint32_t wait_ms, MessagesCallback done, uint64_t member) {
  body_.clear();
  EncodeGroupFetchRequest(GroupFetchRequest{queue, group, max_count, wait_ms, member}, &body_);
  Send(FrameType::kGroupFetch, 0, body_, MessagesHandler(std::move(done)));
}

void BrokerClient::Ack(std::string_view queue, std::string_view group,
                       const std::vector<uint64_t>& offsets, bool sync, AckCallback done) {
  body_.clear();
  EncodeAckRequest(AckRequest{queue, group, offsets}, &body_);
  if (!done && !sync) return Send(FrameType::kAck, kAckFlagNoReply, body_, {});
  Send(FrameType::kAck, sync ? kAckFlagSync : 0, body_,
       [done = std::move(done)](const Status& s, const Frame& f) {
         if (!done) return;
         if (!s.ok()) return done(s, 0);
         if (f.body.size() != 8) return done(Status::Corruption("ACK reply: bad length"), 0);
         done(s, DecodeFixed64(f.body.data()));
       });
}

void BrokerClient::Release(std::string_view queue, std::string_view group,
                           const std::vector<uint64_t>& offsets) {
  body_.clear();
  EncodeAckRequest(AckRequest{queue, group, offsets}, &body_);
  Send(FrameType::kAck, kAckFlagRelease | kAckFlagNoReply, body_, {});
}

}  // namespace meshq::bridge

namespace meshq::bridge {

void BrokerClient::Ping(std::function<void(const Status&)> done) {
  Send(FrameType::kPing, 0, {},
       [done = std::move(done)](const Status& s, const Frame&) { done(s); });
}

void BrokerClient::Stats(std::function<void(const Status&, const BrokerStats&)> done) {
  Send(FrameType::kStats, 0, {}, [done = std::move(done)](const Status& s, const Frame& f) {
    BrokerStats stats;
    if (!s.ok()) return done(s, stats);
    Status d = DecodeStatsReply(f.body, &stats);
    done(d, stats);
  });
}

void BrokerClient::Anchor(std::string_view queue,
                          std::function<void(const Status&, std::string_view)> done) {
  body_.clear();
  WireWriter w(&body_);
  w.Str16(queue);
  Send(FrameType::kAnchor, 0, body_, [done = std::move(done)](const Status& s, const Frame& f) {
    done(s, s.ok() ? f.body : std::string_view());
  });
}

}  // namespace meshq::bridge
