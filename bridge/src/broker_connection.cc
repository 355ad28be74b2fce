// BrokerConnection: frame I/O, dispatch, long-poll parking, backpressure and the per-client
// limits.
#include "broker_connection.h"

#include <algorithm>
#include <cstring>

#include "meshq/bridge/broker_protocol.h"
#include "meshq/bridge/wire.h"
#include "meshq/coding.h"
#include "meshq/log.h"
#include "meshq/tls.h"

namespace meshq::bridge {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
constexpr size_t kReadChunk = 64 * 1024;
// How long the ERROR that precedes a close by a limit may take to be written.
constexpr std::chrono::milliseconds kCloseGrace{1000};
constexpr uint8_t kStatusBusy = static_cast<uint8_t>(Status::Code::kBusy);
constexpr uint8_t kStatusTimedOut = static_cast<uint8_t>(Status::Code::kTimedOut);

uint64_t Nanoseconds(Clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}
}  // namespace

BrokerConnection::BrokerConnection(asio::ip::tcp::socket socket, BrokerCore* core, ConnectionId id,
                                   ConnectionLimits* limits)
    : stream_(limits->tls ? TlsStream(std::move(socket), limits->tls)
                          : TlsStream(std::move(socket))),
      core_(core),
      id_(id),
      limits_(limits),
      caller_{id_, {}, 0},
      options_(limits->options),
      metrics_(core->metrics()),
      deadline_(stream_.get_executor()) {
  in_.resize(kReadChunk);
  metrics_.connections()->Inc();
}

BrokerConnection::~BrokerConnection() {
  limits_->buffered -= in_.size() - kReadChunk;
  metrics_.connections()->Dec();
}

void BrokerConnection::Start() {
  boost::system::error_code ec;
  stream_.socket().set_option(asio::ip::tcp::no_delay(true), ec);
  if (stream_.tls()) return Handshake();
  StartFrames();
}

void BrokerConnection::StartFrames() {
  last_active_ = Clock::now();
  if (options_.idle_timeout.count() > 0) ArmDeadline(options_.idle_timeout);
  DoRead();
}

void BrokerConnection::Handshake() {
  handshaking_ = true;
  // A client that connects and says nothing must not hold the connection: the frame timeout
  // (else the idle one) bounds the handshake as it bounds a frame.
  const auto limit =
      options_.frame_timeout.count() > 0 ? options_.frame_timeout : options_.idle_timeout;
  if (limit.count() > 0) ArmDeadline(limit);
  stream_.async_handshake(
      asio::ssl::stream_base::server, [self = shared_from_this()](boost::system::error_code ec) {
        self->handshaking_ = false;
        if (self->closed_) return;  // timed out
        if (ec) {
          ++self->limits_->tls_handshake_failures;
          const long verify = SSL_get_verify_result(self->stream_.native_handle());
          LogEvent(LogLevel::kDebug, "broker", "tls handshake failed")
              .Field("connection", self->id_)
              .Field("error", ec.message())
              .Field("verify", verify == X509_V_OK ? "" : X509_verify_cert_error_string(verify));
          return self->Close();
        }
        ++self->limits_->tls_handshakes;
        self->identity_ = PeerIdentity(self->stream_.native_handle());
        self->caller_ = {self->id_, self->identity_, self->core_->InternIdentity(self->identity_)};
        LogEvent(LogLevel::kDebug, "broker", "tls connection")
            .Field("connection", self->id_)
            .Field("version", SSL_get_version(self->stream_.native_handle()))
            .Field("identity", self->identity_);
        self->StartFrames();
      });
}

bool BrokerConnection::OverHighWater() const {
  return out_.size() + writing_.size() > options_.max_outbound_bytes;
}

void BrokerConnection::DoRead() {
  if (reading_ || closed_ || close_after_write_ || OverHighWater()) return;
  if (!ReserveInput()) return;
  reading_ = true;
  stream_.async_read_some(asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
                          [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                            self->reading_ = false;
                            if (ec) return self->Close();
                            self->in_end_ += n;
                            // All the TLS records already here first: their answers then leave
                            // in one write.
                            if (self->stream_.HasBufferedInput() &&
                                self->in_.size() - self->in_end_ >= kReadChunk / 4) {
                              return self->DoRead();
                            }
                            self->ProcessInput();
                          });
}

bool BrokerConnection::ReserveInput() {
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
    // A large frame's room is given back once it is consumed: a quiet connection holds one chunk.
    if (in_.size() > kReadChunk) {
      limits_->buffered -= in_.size() - kReadChunk;
      std::vector<char>(kReadChunk).swap(in_);
    }
    return true;
  }
  if (in_.size() - in_end_ >= kReadChunk / 4) return true;
  // Compact first; grow only when a single frame needs more room.
  std::copy(in_.begin() + in_begin_, in_.begin() + in_end_, in_.begin());
  in_end_ -= in_begin_;
  in_begin_ = 0;
  if (in_.size() - in_end_ >= kReadChunk / 4) return true;
  // The input starts with the header of the frame in progress (ProcessInput stops only at an
  // unfinished frame). Grow towards that frame, doubling as its bytes arrive: what a header
  // announces is never allocated before the bytes come.
  const size_t frame = kFrameHeaderSize + DecodeFixed32(in_.data());
  if (frame <= in_.size()) return true;  // the rest of the frame fits
  const size_t size = std::min(in_.size() * 2, frame);
  const size_t grow = size - in_.size();
  const size_t total = limits_->buffered.fetch_add(grow) + grow;
  if (options_.max_buffered_bytes != 0 && total > options_.max_buffered_bytes) {
    limits_->buffered -= grow;
    ++limits_->refused_memory;
    SendError(0, kStatusBusy,
              "broker input buffers full: a frame of " + std::to_string(frame) +
                  " bytes would take them beyond --max-buffered-bytes " +
                  std::to_string(options_.max_buffered_bytes) + "; connection closed");
    close_after_write_ = true;
    return false;
  }
  in_.resize(size);
  return true;
}

void BrokerConnection::ProcessInput() {
  bool consumed = false;
  while (!closed_ && !close_after_write_ && !OverHighWater()) {
    std::string_view input(in_.data() + in_begin_, in_end_ - in_begin_);
    DecodeResult<Frame> r = DecodeFrame(input, options_.max_frame_bytes);
    if (r.need_more()) break;
    if (r.failed()) {
      SendError(0, kStatusBadFrame,
                r.error.IsInvalidArgument() ? "frame too large" : "unknown frame type");
      close_after_write_ = true;
      break;
    }
    // One clock reading for the frames of one read (their arrival), one after them (below, also
    // the idle clock's): a request answered at once is timed between the two.
    if (!consumed) arrived_ = Clock::now();
    metrics_.FrameReceived(r.value.header.type, r.consumed);
    Dispatch(r.value);
    in_begin_ += r.consumed;
    consumed = true;
  }
  // A frame starts when the first byte after the previous one arrives.
  const bool partial = in_end_ > in_begin_;
  if (consumed || (partial && !partial_)) {
    const Clock::time_point now = Clock::now();
    if (consumed) {
      last_active_ = now;
      for (Histogram* h : answered_) h->Observe(Nanoseconds(now - arrived_));
      answered_.clear();
    }
    if (partial) {
      frame_start_ = now;
      const auto limit = options_.frame_timeout;
      // The timer moves only when it would fire after this frame's deadline (it usually is
      // already armed no later than that).
      if (limit.count() > 0 && (!deadline_armed_ || deadline_.expiry() > now + limit)) {
        ArmDeadline(limit);
      }
    }
  }
  partial_ = partial;
  DoRead();
}

void BrokerConnection::ArmDeadline(std::chrono::milliseconds after) {
  deadline_armed_ = true;
  deadline_.expires_after(after);
  deadline_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;  // moved or cancelled
    if (auto self = weak.lock()) {
      self->deadline_armed_ = false;
      self->OnDeadline();
    }
  });
}

void BrokerConnection::OnDeadline() {
  if (closed_) return;
  if (handshaking_) {
    ++limits_->tls_handshake_timeouts;
    return Close();
  }
  if (close_after_write_) {
    // The ERROR before the close had its time to leave; a client not reading it is dropped.
    if (closing_) return Close();
    closing_ = true;
    return ArmDeadline(kCloseGrace);
  }
  const Clock::time_point now = Clock::now();
  const auto frame_limit = options_.frame_timeout;
  const auto idle_limit = options_.idle_timeout;
  auto expire = [this](std::atomic<uint64_t>* counter, std::string message) {
    ++*counter;
    SendError(0, kStatusTimedOut, message + "; connection closed");
    close_after_write_ = true;
    closing_ = true;
    ArmDeadline(kCloseGrace);
  };
  Clock::duration next = Clock::duration::max();
  // While its answers are over the high-water mark the broker is not reading: what holds the
  // frame up then is not the client's sending, so its clock starts again.
  if (OverHighWater()) frame_start_ = now;
  if (partial_ && frame_limit.count() > 0) {
    const Clock::duration left = frame_start_ + frame_limit - now;
    if (left <= Clock::duration::zero()) {
      return expire(&limits_->frame_timeouts, "frame not finished within --frame-timeout-ms " +
                                                  std::to_string(frame_limit.count()));
    }
    next = std::min(next, left);
  }
  if (idle_limit.count() > 0) {
    if (!partial_ && waits_.empty()) {
      const Clock::duration left = last_active_ + idle_limit - now;
      if (left <= Clock::duration::zero()) {
        return expire(&limits_->idle_timeouts, "idle: no frame within --idle-timeout-ms " +
                                                   std::to_string(idle_limit.count()));
      }
      next = std::min(next, left);
    }
    // Looked at again within the idle limit whatever the state: it may turn idle meanwhile.
    next = std::min<Clock::duration>(next, idle_limit);
  }
  if (next != Clock::duration::max()) {
    ArmDeadline(std::chrono::ceil<std::chrono::milliseconds>(next));
  }
}

void BrokerConnection::Dispatch(const Frame& frame) {
  switch (frame.header.type) {
    case FrameType::kPut:
      return HandlePut(frame);
    case FrameType::kGet:
    case FrameType::kFetch:
      return HandleRead(frame);
    case FrameType::kGroupFetch:
      return HandleGroupFetch(frame);
    case FrameType::kAck:
      return HandleAck(frame);
    case FrameType::kPing:
      return Send(FrameType::kPong, 0, frame.header.request_id, {});
    case FrameType::kStats:
      return HandleStats(frame);
    case FrameType::kAnchor:
      return HandleAnchor(frame);
    default:
      return SendError(frame.header.request_id, kStatusBadFrame, "not a request frame type");
  }
}

bool BrokerConnection::Allowed(uint64_t rid, AclOp op, std::string_view queue) {
  if (limits_->acl == nullptr || limits_->acl->Allows(identity_, op, queue)) return true;
  metrics_.refused_acl()->Inc();
  SendStatus(rid,
             Status::PermissionDenied(
                 std::string(AclOpName(op)) + " on " + std::string(queue) + " not allowed for " +
                 (identity_.empty() ? std::string("an anonymous connection") : identity_)));
  return false;
}

void BrokerConnection::HandlePut(const Frame& frame) {
  const Clock::time_point start = arrived_;
  Histogram* const latency = metrics_.request_seconds(FrameType::kPut);
  PutRequest request;
  uint64_t rid = frame.header.request_id;
  Status s = DecodePutRequest(frame.body, frame.header.flags, &request);
  std::string body;
  bool no_consumers = false, unbound = false;
  const uint8_t flags = frame.header.flags;
  if (s.ok() &&
      !Allowed(rid, (flags & kPutFlagReply) ? AclOp::kReply : AclOp::kPut, request.queue)) {
    return answered_.push_back(latency);
  }
  if (s.ok()) s = core_->Put(caller_, request, flags, &body, &no_consumers, &unbound);
  if (!s.ok() || no_consumers || unbound || !(flags & (kPutFlagFlush | kPutFlagWritten))) {
    if (!s.ok()) {
      SendStatus(rid, s);
    } else if (unbound) {
      metrics_.refused_unbound_reply()->Inc();
      SendStatus(rid, Status::PermissionDenied(
                          "reply to a request not handed to this connection or its identity"));
    } else if (no_consumers) {
      SendError(rid, kStatusNoConsumers, "no consumers in group");
    } else {
      Send(FrameType::kPutReply, 0, rid, body);
    }
    return answered_.push_back(latency);
  }
  // Acknowledged only once a Flush covering it returned (the committer batches them).
  core_->committer().RequestFlush(
      [self = shared_from_this(), rid, body = std::move(body), start, latency](Status fs) mutable {
        asio::post(self->stream_.get_executor(),
                   [self, rid, fs = std::move(fs), body = std::move(body), start, latency] {
                     if (fs.ok()) {
                       self->Send(FrameType::kPutReply, 0, rid, body);
                     } else {
                       self->SendStatus(rid, fs);
                     }
                     latency->ObserveSince(start);
                   });
      },
      (flags & kPutFlagFlush) ? FlushMode::kSync : FlushMode::kWrite);
}

void BrokerConnection::HandleRead(const Frame& frame) {
  ReadRequest request;
  Status s = DecodeReadRequest(frame.body, &request);
  if (!s.ok()) return SendStatus(frame.header.request_id, s);
  const AclOp op = frame.header.type == FrameType::kFetch ? AclOp::kFetch : AclOp::kGet;
  if (!Allowed(frame.header.request_id, op, request.queue)) {
    return answered_.push_back(metrics_.request_seconds(frame.header.type));
  }
  Wait w;
  w.type = frame.header.type;
  w.queue = std::string(request.queue);
  w.offset = request.offset;
  w.max_count = request.max_count;
  w.flags = frame.header.flags;
  Serve(frame.header.request_id, std::move(w),
        frame.header.type == FrameType::kFetch ? request.wait_ms : 0);
}

void BrokerConnection::HandleGroupFetch(const Frame& frame) {
  GroupFetchRequest request;
  Status s = DecodeGroupFetchRequest(frame.body, &request);
  if (!s.ok()) return SendStatus(frame.header.request_id, s);
  if (!Allowed(frame.header.request_id, AclOp::kGroup, request.queue)) {
    return answered_.push_back(metrics_.request_seconds(FrameType::kGroupFetch));
  }
  Wait w;
  w.type = FrameType::kGroupFetch;
  w.queue = std::string(request.queue);
  w.group = std::string(request.group);
  w.max_count = request.max_count;
  w.member = request.member;
  Serve(frame.header.request_id, std::move(w), request.wait_ms);
}

void BrokerConnection::Serve(uint64_t rid, Wait wait, uint32_t wait_ms) {
  Histogram* const latency = metrics_.request_seconds(wait.type);
  if (waits_.count(rid)) {
    SendError(rid, kStatusBadFrame, "request id already waiting");
    return answered_.push_back(latency);
  }
  if (TryAnswer(rid, wait, wait_ms == 0)) return answered_.push_back(latency);
  const uint32_t cap = options_.max_parked_fetches;
  if (cap != 0 && waits_.size() >= cap) {
    ++limits_->refused_parked;
    SendError(rid, kStatusBusy,
              std::to_string(cap) + " fetches already wait on this connection " +
                  "(--max-parked-fetches)");
    return answered_.push_back(latency);
  }
  wait.parked = arrived_;
  metrics_.parked_fetches()->Inc();
  Wait& w = waits_.emplace(rid, std::move(wait)).first->second;
  w.timer = std::make_unique<asio::steady_timer>(stream_.get_executor(),
                                                 std::chrono::milliseconds(wait_ms));
  w.timer->async_wait([weak = weak_from_this(), rid](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->ServeWait(rid, true);
  });
  ServeWait(rid, false);
}

bool BrokerConnection::TryAnswer(uint64_t rid, Wait& w, bool timed_out) {
  scratch_.clear();
  uint32_t count = 0;
  Status s;
  if (w.type == FrameType::kGroupFetch) {
    GroupFetchRequest r{w.queue, w.group, w.max_count, 0, w.member};
    s = core_->GroupFetch(caller_, r, &scratch_, &count);
  } else {
    ReadRequest r{w.queue, w.offset, w.max_count, 0};
    s = core_->Read(r, &scratch_, &count, w.flags);
  }
  if (!s.ok()) {
    SendStatus(rid, s);
    return true;
  }
  if (count == 0 && !timed_out) return false;
  Send(FrameType::kMessages, 0, rid, scratch_);
  return true;
}

void BrokerConnection::ServeWait(uint64_t rid, bool timed_out) {
  auto it = waits_.find(rid);
  if (it == waits_.end() || closed_) return;
  Wait& w = it->second;
  if (w.token) core_->watch().Remove(w.queue, w.token);
  w.token = 0;
  if (!TryAnswer(rid, w, timed_out)) {
    // Register first, then look once more: a PUT between the look above and the registration
    // would otherwise be missed until the wait times out.
    // dispatch, not post: when the PUT that grows the queue runs on this connection's thread,
    // the waiter is answered right there, before that PUT's own answer is written. A post would
    // queue the delivery behind the putter's PUT_REPLY (and its wake-up of the putter, which then
    // competes for the CPU), on the path of every request-reply call.
    w.token =
        core_->watch().Add(w.queue, [weak = weak_from_this(), rid, ex = stream_.get_executor()] {
          asio::dispatch(ex, [weak, rid] {
            if (auto self = weak.lock()) self->ServeWait(rid, false);
          });
        });
    if (!TryAnswer(rid, w, false)) return;
    core_->watch().Remove(w.queue, w.token);
  }
  if (w.timer) w.timer->cancel();
  last_active_ = Clock::now();  // the idle clock starts when the last wait ends
  metrics_.fetch_wait_seconds(w.type)->Observe(Nanoseconds(last_active_ - w.parked));
  metrics_.parked_fetches()->Dec();
  waits_.erase(it);
}

void BrokerConnection::HandleAck(const Frame& frame) {
  const Clock::time_point start = arrived_;
  Histogram* const latency = metrics_.request_seconds(FrameType::kAck);
  AckRequest request;
  uint64_t rid = frame.header.request_id;
  Status s = DecodeAckRequest(frame.body, &request);
  if (s.ok() && !Allowed(rid, AclOp::kAck, request.queue)) return answered_.push_back(latency);
  uint64_t committed = 0;
  if (s.ok()) s = core_->Ack(request, frame.header.flags & kAckFlagRelease, &committed);
  const bool sync = frame.header.flags & kAckFlagSync;
  std::string body(8, '\0');
  std::memcpy(body.data(), &committed, 8);
  if (!s.ok() || !sync) {
    if (!s.ok()) {
      SendStatus(rid, s);
    } else if (!(frame.header.flags & kAckFlagNoReply)) {
      Send(FrameType::kAckReply, 0, rid, body);
    }
    return answered_.push_back(latency);
  }
  core_->committer().RequestFlush(
      [self = shared_from_this(), rid, body, start, latency](Status fs) {
        asio::post(self->stream_.get_executor(), [self, rid, fs, body, start, latency] {
          if (fs.ok()) {
            self->Send(FrameType::kAckReply, 0, rid, body);
          } else {
            self->SendStatus(rid, fs);
          }
          latency->ObserveSince(start);
        });
      },
      FlushMode::kSync, /*offsets=*/true);
}

void BrokerConnection::HandleStats(const Frame& frame) {
  // Taken on the sweeper's thread: the store's counters walk every queue.
  core_->sweeper().Post([self = shared_from_this(), rid = frame.header.request_id] {
    std::string body;
    EncodeStatsReply(self->core_->Stats(), &body);
    asio::post(self->stream_.get_executor(), [self, rid, body = std::move(body)] {
      self->Send(FrameType::kStatsReply, 0, rid, body);
    });
  });
}

void BrokerConnection::HandleAnchor(const Frame& frame) {
  const uint64_t rid = frame.header.request_id;
  WireReader r(frame.body);
  std::string_view queue;
  if (!r.Str16(&queue) || r.remaining() != 0 || queue.empty()) {
    return SendStatus(rid, Status::InvalidArgument("ANCHOR: expected a queue name"));
  }
  if (!Allowed(rid, AclOp::kGet, queue)) return;
  ChainAnchor anchor;
  bool found = false;
  Status s = core_->Anchor(queue, &anchor, &found);
  if (!s.ok()) return SendStatus(rid, s);
  std::string body(1, found ? '\1' : '\0');
  if (found) {
    std::string encoded;
    EncodeChainAnchor(anchor, &encoded);
    body += encoded;
  }
  Send(FrameType::kAnchorReply, 0, rid, body);
}

void BrokerConnection::Send(FrameType type, uint8_t status, uint64_t rid, std::string_view body) {
  if (closed_) return;
  FrameHeader h;
  h.type = type;
  h.status = status;
  h.request_id = rid;
  AppendFrame(h, body, &out_);
  metrics_.FrameSent(type, kFrameHeaderSize + body.size());
  DoWrite();
}

void BrokerConnection::SendError(uint64_t rid, uint8_t status, std::string_view message) {
  if (!closed_) metrics_.ErrorSent(status);
  Send(FrameType::kError, status, rid, message);
}

void BrokerConnection::SendStatus(uint64_t rid, const Status& s) {
  SendError(rid, static_cast<uint8_t>(s.code()), s.message());
}

void BrokerConnection::DoWrite() {
  if (!writing_.empty() || out_.empty() || closed_) return;
  writing_.swap(out_);
  asio::async_write(stream_, asio::buffer(writing_),
                    [self = shared_from_this()](boost::system::error_code ec, size_t) {
                      self->writing_.clear();
                      if (ec) return self->Close();
                      if (self->out_.empty() && self->close_after_write_) return self->Close();
                      self->DoWrite();
                      // Reading resumes once the backlog is below the high-water mark again.
                      if (!self->reading_) self->ProcessInput();
                    });
}

void BrokerConnection::Close() {
  if (closed_) return;
  closed_ = true;
  stream_.Close();
  deadline_.cancel();
  for (auto& [rid, w] : waits_) {
    if (w.token) core_->watch().Remove(w.queue, w.token);
    if (w.timer) w.timer->cancel();
  }
  metrics_.parked_fetches()->Add(-static_cast<int64_t>(waits_.size()));
  waits_.clear();
  core_->ConnectionClosed(id_);
}

}  // namespace meshq::bridge
