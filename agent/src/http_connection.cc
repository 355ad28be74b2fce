// HttpConnection: parse -> call -> ordered answers. Parsing is the wire layer's pure
// http::ParseRequest; this file owns only the socket, the order of answers, the routing and the
// deadlines.
#include "http_connection.h"

#include <boost/asio/write.hpp>
#include <cctype>

#include "http_response.h"
#include "meshq/agent/agent_metrics.h"

namespace meshq::agent {

namespace asio = boost::asio;

HttpConnection::HttpConnection(asio::ip::tcp::socket socket, ConsumerTransport* transport,
                               const Options& options, size_t* inflight,
                               HttpTimeoutCounts* timeouts)
    : socket_(std::move(socket)),
      transport_(transport),
      inflight_(inflight),
      options_(options),
      timeouts_(timeouts),
      deadline_(socket_.get_executor()) {}

void HttpConnection::Start() {
  boost::system::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  last_active_ = Clock::now();
  if (options_.timeouts.idle.count() > 0) FireBy(last_active_ + options_.timeouts.idle);
  Read();
}

void HttpConnection::Read() {
  if (reading_ || read_closed_ || slots_.size() >= options_.max_pipelined) return;
  reading_ = true;
  socket_.async_read_some(
      in_.Prepare(), [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
        self->reading_ = false;
        if (ec) {
          self->read_closed_ = true;
          self->Flush();  // closes once pending answers are written
          return;
        }
        self->in_.Commit(n);
        self->HandleInput();
        self->Read();
      });
}

void HttpConnection::HandleInput() {
  size_t offset = 0;
  bool request_done = false;
  bool headers_complete = false;
  while (!read_closed_ && slots_.size() < options_.max_pipelined) {
    const std::string_view rest = in_.data().substr(offset);
    if (rest.empty()) break;
    http::ParseResult r = http::ParseRequest(rest, options_.limits, &request_);
    if (r.state == http::ParseState::kNeedMore) {
      headers_complete = request_.headers_complete;
      MaybeContinue(rest);
      break;
    }
    if (r.state == http::ParseState::kError) {
      read_closed_ = true;
      slots_.push_back(Slot{true, r.status, std::string(r.reason) + "\n", false});
      break;
    }
    offset += r.consumed;
    request_done = true;
    continue_sent_ = false;
    if (!Dispatch(request_)) read_closed_ = true;
  }
  in_.Consume(offset);
  TrackRequest(request_done, headers_complete);
  Flush();
}

void HttpConnection::TrackRequest(bool request_done, bool headers_complete) {
  // Bytes left once reading paused (too many answers owed) are not the client's delay.
  const bool partial =
      !read_closed_ && !in_.data().empty() && slots_.size() < options_.max_pipelined;
  if (!request_done && partial == partial_ && headers_complete == headers_seen_) return;
  const Clock::time_point now = Clock::now();
  if (request_done) {
    last_active_ = now;
    headers_seen_ = false;
  }
  if (partial && (request_done || !partial_)) {
    request_start_ = now;  // a new request began
    if (options_.timeouts.header.count() > 0) FireBy(now + options_.timeouts.header);
  }
  if (partial && headers_complete && !headers_seen_) {
    headers_done_ = now;
    if (options_.timeouts.body.count() > 0) FireBy(now + options_.timeouts.body);
  }
  partial_ = partial;
  headers_seen_ = partial && headers_complete;
}

void HttpConnection::FireBy(Clock::time_point at) {
  if (deadline_armed_ && deadline_.expiry() <= at) return;
  deadline_armed_ = true;
  deadline_.expires_at(at);
  deadline_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;  // moved or cancelled
    if (auto self = weak.lock()) {
      self->deadline_armed_ = false;
      self->OnDeadline();
    }
  });
}

void HttpConnection::OnDeadline() {
  if (!socket_.is_open()) return;
  const Clock::time_point now = Clock::now();
  if (closing_) {
    // The 408 and the answers owed before it had their time to leave.
    if (now >= close_at_) return CloseSocket();
    return FireBy(close_at_);
  }
  const HttpTimeouts& t = options_.timeouts;
  Clock::time_point next = Clock::time_point::max();
  if (partial_ && !headers_seen_ && t.header.count() > 0) {
    if (now >= request_start_ + t.header) {
      return TimeOut(&timeouts_->header, "request header not received within " +
                                             std::to_string(t.header.count()) + " ms\n");
    }
    next = std::min(next, request_start_ + t.header);
  }
  if (partial_ && headers_seen_ && t.body.count() > 0) {
    if (now >= headers_done_ + t.body) {
      return TimeOut(&timeouts_->body, "request body not received within " +
                                           std::to_string(t.body.count()) + " ms\n");
    }
    next = std::min(next, headers_done_ + t.body);
  }
  if (t.idle.count() > 0) {
    if (!partial_ && !read_closed_ && slots_.empty() && !writes_.writing()) {
      if (now >= last_active_ + t.idle) {
        ++timeouts_->idle;
        return CloseSocket();
      }
      next = std::min(next, last_active_ + t.idle);
    }
    // Looked at again within the idle limit whatever the state: it may turn idle meanwhile.
    next = std::min(next, now + t.idle);
  }
  if (next != Clock::time_point::max()) FireBy(next);
}

void HttpConnection::TimeOut(std::atomic<uint64_t>* counter, std::string message) {
  ++*counter;
  read_closed_ = true;
  partial_ = false;
  slots_.push_back(Slot{true, 408, std::move(message), false});
  closing_ = true;
  // Answers owed before the 408 may still be waiting for their calls.
  close_at_ = Clock::now() + options_.call_timeout + std::chrono::seconds(1);
  FireBy(close_at_);
  Flush();
}

void HttpConnection::CloseSocket() {
  read_closed_ = true;
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  deadline_.cancel();
}

void HttpConnection::MaybeContinue(std::string_view partial) {
  // A client that sent "Expect: 100-continue" waits for this before sending the body (curl does
  // for bodies over 1 KiB). Sent only when no earlier answer is owed, so answers stay in order.
  if (continue_sent_ || !slots_.empty()) return;
  const size_t end = partial.find("\r\n\r\n");
  if (end == std::string_view::npos) return;
  std::string head(partial.substr(0, end));
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (head.find("\nexpect: 100-continue") == std::string::npos) return;
  continue_sent_ = true;
  writes_.out()->append("HTTP/1.1 100 Continue\r\n\r\n");
}

bool HttpConnection::Dispatch(const http::Request& req) {
  const uint64_t seq = first_seq_ + slots_.size();
  slots_.push_back(Slot{false, 0, {}, req.keep_alive});
  if (req.method == "GET" && (req.target == "/endpoints" || req.target == "/health")) {
    Answer(seq, 200, req.target == "/health" ? "ok\n" : transport_->Describe());
    return req.keep_alive;
  }
  if (req.method != "POST") {
    Answer(seq, 405, "only POST / takes calls (GET /endpoints shows the providers)\n");
    return req.keep_alive;
  }
  Status s = form_.Parse(req.body);
  if (!s.ok()) {
    if (options_.metrics) options_.metrics->RequestRefused();
    Answer(seq, 400, "malformed form body: " + std::string(s.message()) + "\n");
    return req.keep_alive;
  }
  CallRequest call;
  static constexpr std::string_view kFields[] = {"interface", "method", "parameterTypesString",
                                                 "parameter"};
  std::string* targets[] = {&call.interface_name, &call.method, &call.parameter_types,
                            &call.parameter};
  for (size_t i = 0; i < 4; ++i) {
    bool found = false;
    const std::string_view v = form_.Get(kFields[i], &found);
    if (!found || (i < 2 && v.empty())) {
      if (options_.metrics) options_.metrics->RequestRefused();
      Answer(seq, 400, "missing form field: " + std::string(kFields[i]) + "\n");
      return req.keep_alive;
    }
    targets[i]->assign(v);
  }
  const Clock::time_point arrived = Clock::now();
  call.deadline = arrived + options_.call_timeout;
  ++*inflight_;
  transport_->Invoke(std::move(call), [self = shared_from_this(), seq, arrived](CallResult result) {
    --*self->inflight_;
    if (AgentMetrics* m = self->options_.metrics)
      m->CallDone(result.status, Clock::now() - arrived);
    const int status = HttpStatusFor(result.status);
    if (status != 200) {
      result.body = std::string(CallStatusName(result.status)) + ": " + result.body + "\n";
    }
    self->Answer(seq, status, std::move(result.body));
  });
  return req.keep_alive;
}

void HttpConnection::Answer(uint64_t seq, int status, std::string body) {
  if (seq < first_seq_ || seq - first_seq_ >= slots_.size()) return;  // connection was closed
  Slot& slot = slots_[seq - first_seq_];
  slot.ready = true;
  slot.status = status;
  slot.body = std::move(body);
  // Answers leave in request order: flushing happens from the front only.
  if (seq == first_seq_) Flush();
}

void HttpConnection::Flush() {
  bool close_after = false;
  while (!slots_.empty() && slots_.front().ready) {
    Slot& s = slots_.front();
    http::AppendResponse(s.status, s.body, s.keep_alive, writes_.out());
    close_after = !s.keep_alive;
    slots_.pop_front();
    ++first_seq_;
    if (close_after) {
      read_closed_ = true;
      slots_.clear();  // nothing after a "Connection: close" answer is sent
      break;
    }
  }
  if (writes_.writing()) return;
  const std::string* bytes = writes_.Begin();
  if (bytes == nullptr) {
    if (read_closed_ && slots_.empty()) CloseSocket();
    return;
  }
  asio::async_write(socket_, asio::buffer(*bytes),
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                      self->writes_.End();
                      if (ec) return self->CloseSocket();
                      self->last_active_ = Clock::now();
                      self->Flush();
                      self->Read();  // resumes when pipelining had paused reading
                    });
}

}  // namespace meshq::agent
