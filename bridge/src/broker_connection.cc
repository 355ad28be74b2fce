// BrokerConnection: frame I/O, dispatch, long-poll parking and backpressure.
#include "broker_connection.h"

#include <cstring>

#include "meshq/bridge/broker_protocol.h"

namespace meshq::bridge {
namespace asio = boost::asio;

namespace {
constexpr size_t kReadChunk = 64 * 1024;
}  // namespace

BrokerConnection::BrokerConnection(asio::ip::tcp::socket socket, BrokerCore* core, ConnectionId id,
                                   size_t max_outbound_bytes)
    : socket_(std::move(socket)), core_(core), id_(id), max_outbound_(max_outbound_bytes) {
  in_.resize(kReadChunk);
}

void BrokerConnection::Start() {
  boost::system::error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  DoRead();
}

bool BrokerConnection::OverHighWater() const {
  return out_.size() + writing_.size() > max_outbound_;
}

void BrokerConnection::DoRead() {
  if (reading_ || closed_ || close_after_write_ || OverHighWater()) return;
  if (in_begin_ > 0 && in_begin_ == in_end_) in_begin_ = in_end_ = 0;
  if (in_.size() - in_end_ < kReadChunk / 4) {
    // Compact first; grow only when a single frame needs more room.
    std::copy(in_.begin() + in_begin_, in_.begin() + in_end_, in_.begin());
    in_end_ -= in_begin_;
    in_begin_ = 0;
    if (in_.size() - in_end_ < kReadChunk / 4) in_.resize(in_.size() * 2);
  }
  reading_ = true;
  socket_.async_read_some(asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
                          [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                            self->reading_ = false;
                            if (ec) return self->Close();
                            self->in_end_ += n;
                            self->ProcessInput();
                          });
}

void BrokerConnection::ProcessInput() {
  while (!closed_ && !close_after_write_ && !OverHighWater()) {
    std::string_view input(in_.data() + in_begin_, in_end_ - in_begin_);
    DecodeResult<Frame> r = DecodeFrame(input);
    if (r.need_more()) break;
    if (r.failed()) {
      SendError(0, kStatusBadFrame,
                r.error.IsInvalidArgument() ? "frame too large" : "unknown frame type");
      close_after_write_ = true;
      break;
    }
    Dispatch(r.value);
    in_begin_ += r.consumed;
  }
  DoRead();
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
    default:
      return SendError(frame.header.request_id, kStatusBadFrame, "not a request frame type");
  }
}

void BrokerConnection::HandlePut(const Frame& frame) {
  PutRequest request;
  uint64_t rid = frame.header.request_id;
  Status s = DecodePutRequest(frame.body, frame.header.flags, &request);
  if (!s.ok()) return SendStatus(rid, s);
  std::string body;
  bool no_consumers = false;
  s = core_->Put(request, frame.header.flags, &body, &no_consumers);
  if (!s.ok()) return SendStatus(rid, s);
  if (no_consumers) return SendError(rid, kStatusNoConsumers, "no consumers in group");
  const uint8_t flags = frame.header.flags;
  if (!(flags & (kPutFlagFlush | kPutFlagWritten))) return Send(FrameType::kPutReply, 0, rid, body);
  // Acknowledged only once a Flush covering it returned (the committer batches them).
  core_->committer().RequestFlush(
      [self = shared_from_this(), rid, body = std::move(body)](Status fs) mutable {
        asio::post(self->socket_.get_executor(),
                   [self, rid, fs = std::move(fs), body = std::move(body)] {
                     if (fs.ok()) {
                       self->Send(FrameType::kPutReply, 0, rid, body);
                     } else {
                       self->SendStatus(rid, fs);
                     }
                   });
      },
      (flags & kPutFlagFlush) ? FlushMode::kSync : FlushMode::kWrite);
}

void BrokerConnection::HandleRead(const Frame& frame) {
  ReadRequest request;
  Status s = DecodeReadRequest(frame.body, &request);
  if (!s.ok()) return SendStatus(frame.header.request_id, s);
  Wait w;
  w.type = frame.header.type;
  w.queue = std::string(request.queue);
  w.offset = request.offset;
  w.max_count = request.max_count;
  Serve(frame.header.request_id, std::move(w),
        frame.header.type == FrameType::kFetch ? request.wait_ms : 0);
}

void BrokerConnection::HandleGroupFetch(const Frame& frame) {
  GroupFetchRequest request;
  Status s = DecodeGroupFetchRequest(frame.body, &request);
  if (!s.ok()) return SendStatus(frame.header.request_id, s);
  Wait w;
  w.type = FrameType::kGroupFetch;
  w.queue = std::string(request.queue);
  w.group = std::string(request.group);
  w.max_count = request.max_count;
  w.member = request.member;
  Serve(frame.header.request_id, std::move(w), request.wait_ms);
}

void BrokerConnection::Serve(uint64_t rid, Wait wait, uint32_t wait_ms) {
  if (waits_.count(rid)) return SendError(rid, kStatusBadFrame, "request id already waiting");
  if (TryAnswer(rid, wait, wait_ms == 0)) return;
  Wait& w = waits_.emplace(rid, std::move(wait)).first->second;
  w.timer = std::make_unique<asio::steady_timer>(socket_.get_executor(),
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
    s = core_->GroupFetch(id_, r, &scratch_, &count);
  } else {
    ReadRequest r{w.queue, w.offset, w.max_count, 0};
    s = core_->Read(r, &scratch_, &count);
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
        core_->watch().Add(w.queue, [weak = weak_from_this(), rid, ex = socket_.get_executor()] {
          asio::dispatch(ex, [weak, rid] {
            if (auto self = weak.lock()) self->ServeWait(rid, false);
          });
        });
    if (!TryAnswer(rid, w, false)) return;
    core_->watch().Remove(w.queue, w.token);
  }
  if (w.timer) w.timer->cancel();
  waits_.erase(it);
}

void BrokerConnection::HandleAck(const Frame& frame) {
  AckRequest request;
  uint64_t rid = frame.header.request_id;
  Status s = DecodeAckRequest(frame.body, &request);
  if (!s.ok()) return SendStatus(rid, s);
  uint64_t committed = 0;
  s = core_->Ack(request, frame.header.flags & kAckFlagRelease, &committed);
  if (!s.ok()) return SendStatus(rid, s);
  const bool sync = frame.header.flags & kAckFlagSync;
  if (!sync && (frame.header.flags & kAckFlagNoReply)) return;
  std::string body(8, '\0');
  std::memcpy(body.data(), &committed, 8);
  if (!sync) return Send(FrameType::kAckReply, 0, rid, body);
  core_->committer().RequestFlush(
      [self = shared_from_this(), rid, body](Status fs) {
        asio::post(self->socket_.get_executor(), [self, rid, fs, body] {
          if (fs.ok()) {
            self->Send(FrameType::kAckReply, 0, rid, body);
          } else {
            self->SendStatus(rid, fs);
          }
        });
      },
      FlushMode::kSync, /*offsets=*/true);
}

void BrokerConnection::Send(FrameType type, uint8_t status, uint64_t rid, std::string_view body) {
  if (closed_) return;
  FrameHeader h;
  h.type = type;
  h.status = status;
  h.request_id = rid;
  AppendFrame(h, body, &out_);
  DoWrite();
}

void BrokerConnection::SendError(uint64_t rid, uint8_t status, std::string_view message) {
  Send(FrameType::kError, status, rid, message);
}

void BrokerConnection::SendStatus(uint64_t rid, const Status& s) {
  SendError(rid, static_cast<uint8_t>(s.code()), s.message());
}

void BrokerConnection::DoWrite() {
  if (!writing_.empty() || out_.empty() || closed_) return;
  writing_.swap(out_);
  asio::async_write(socket_, asio::buffer(writing_),
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
  boost::system::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  for (auto& [rid, w] : waits_) {
    if (w.token) core_->watch().Remove(w.queue, w.token);
    if (w.timer) w.timer->cancel();
  }
  waits_.clear();
  core_->ConnectionClosed(id_);
}

}  // namespace meshq::bridge
