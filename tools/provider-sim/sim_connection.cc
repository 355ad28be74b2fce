// SimConnection: Dubbo framing on one socket; all handlers run on the connection's io_context.
#include "sim_connection.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "dubbo_codec.h"
#include "hello_service.h"

namespace meshq::provider_sim {

namespace dubbo = agent::dubbo;
using boost::asio::ip::tcp;

namespace {
constexpr std::size_t kReadChunk = 64 * 1024;
}

SimConnection::SimConnection(tcp::socket socket, CallLimiter* limiter, const LatencyModel* latency,
                             SimCounters* counters, std::size_t max_body, const SimFaults* faults)
    : socket_(std::move(socket)),
      limiter_(limiter),
      latency_(latency),
      counters_(counters),
      max_body_(max_body),
      faults_(faults),
      idle_timer_(socket_.get_executor()),
      last_received_(std::chrono::steady_clock::now()),
      rng_(std::random_device{}()) {
  socket_.set_option(tcp::no_delay(true));
}

void SimConnection::Start() {
  Read();
  if (faults_->idle_close_ms > 0) WatchIdle();
}

// Like a Dubbo provider's idle timeout: a connection that received nothing (not even a
// heartbeat) for idle_close_ms is closed.
void SimConnection::WatchIdle() {
  const auto limit = std::chrono::milliseconds(faults_->idle_close_ms);
  idle_timer_.expires_at(last_received_ + limit);
  idle_timer_.async_wait([self = shared_from_this(), limit](const boost::system::error_code& ec) {
    if (ec || self->closed_) return;
    if (std::chrono::steady_clock::now() - self->last_received_ >= limit) {
      self->CloseOnPurpose();
      return;
    }
    self->WatchIdle();
  });
}

void SimConnection::CloseOnPurpose() {
  if (closed_) return;
  closed_ = true;
  faulted_ = true;
  counters_->closed.fetch_add(1, std::memory_order_relaxed);
  counters_->dropped.fetch_add(in_flight_, std::memory_order_relaxed);
  boost::system::error_code ignored;
  idle_timer_.cancel();
  socket_.close(ignored);
}

void SimConnection::Read() {
  if (in_.size() - in_used_ < kReadChunk) in_.resize(in_used_ + kReadChunk);
  socket_.async_read_some(
      boost::asio::buffer(in_.data() + in_used_, in_.size() - in_used_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        if (ec || self->closed_) {
          self->closed_ = true;
          self->idle_timer_.cancel();
          return;
        }
        self->last_received_ = std::chrono::steady_clock::now();
        self->in_used_ += n;
        if (!self->HandleInput()) {
          self->closed_ = true;
          boost::system::error_code ignored;
          self->idle_timer_.cancel();
          self->socket_.close(ignored);
          return;
        }
        self->Read();
      });
}

bool SimConnection::HandleInput() {
  std::string_view in(in_.data(), in_used_);
  std::size_t used = 0;
  for (;;) {
    auto r = dubbo::DecodeFrame(in.substr(used), max_body_);
    if (r.need_more()) break;
    if (r.failed()) {
      counters_->rejected.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    used += r.consumed;
    const dubbo::Header& h = r.value.header;
    if (!h.is_request()) continue;  // e.g. the answer to a heartbeat we never send
    if (h.is_event()) {
      // Heartbeat (or another event): answer with an event response carrying the same id.
      if (h.is_twoway() && faults_->answer_heartbeats) {
        dubbo::AppendHeartbeat(h.id, /*is_request=*/false, &pending_);
      }
      counters_->heartbeats.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    HandleRequest(h.id, h.is_twoway(), r.value.body);
    if (closed_) {
      // The calls that came in the same read as the fatal one are lost with it too.
      for (auto rest = dubbo::DecodeFrame(in.substr(used), max_body_); rest.ok();
           rest = dubbo::DecodeFrame(in.substr(used), max_body_)) {
        used += rest.consumed;
        if (rest.value.header.is_request() && !rest.value.header.is_event()) {
          counters_->dropped.fetch_add(1, std::memory_order_relaxed);
        }
      }
      return false;
    }
  }
  // Keep the unparsed tail at the front of the buffer.
  in_.erase(0, used);
  in_used_ -= used;
  if (!pending_.empty()) Write();
  return true;
}

void SimConnection::HandleRequest(std::uint64_t id, bool twoway, std::string_view body) {
  dubbo::Invocation inv;
  Status st = dubbo::DecodeInvocation(body, &inv);
  auto answer = std::make_shared<std::string>();
  if (!st.ok()) {
    // Dubbo answers an undecodable request with BAD_REQUEST and the reason.
    counters_->rejected.fetch_add(1, std::memory_order_relaxed);
    if (twoway) {
      (void)dubbo::AppendErrorResponse(id, dubbo::ResponseStatus::kBadRequest, st.ToString(),
                                       &pending_);
    }
    return;
  }
  if (!AnswerInvocation(id, inv, answer.get())) {
    counters_->rejected.fetch_add(1, std::memory_order_relaxed);
    if (twoway) pending_.append(*answer);
    return;
  }
  ++in_flight_;
  if (faults_->close_percent > 0 &&
      std::uniform_real_distribution<double>(0, 100)(rng_) < faults_->close_percent) {
    CloseOnPurpose();
    return;
  }
  if (faults_->by_parameter) {
    const FaultCall fault = ParseFaultParameter(inv.arguments.at(0).text);
    if (fault.kind == FaultCall::Kind::kClose) {
      CloseOnPurpose();
      return;
    }
    if (fault.kind != FaultCall::Kind::kNone) {
      answer->clear();
      (void)AppendFaultAnswer(id, fault, nullptr, answer.get());
    }
  }
  // A real call: it occupies one of `capacity` slots for its whole latency.
  auto ex = socket_.get_executor();
  limiter_->Acquire(ex, [self = shared_from_this(), ex, answer, twoway] {
    auto timer = std::make_shared<boost::asio::steady_timer>(ex, self->latency_->Sample());
    timer->async_wait([self, timer, answer, twoway](const boost::system::error_code&) {
      self->limiter_->Release();
      if (self->faulted_) return;  // lost with its connection (counted as dropped)
      --self->in_flight_;
      self->counters_->calls.fetch_add(1, std::memory_order_relaxed);
      if (twoway) self->Send(*answer);
    });
  });
}

void SimConnection::Send(std::string_view bytes) {
  pending_.append(bytes);
  Write();
}

void SimConnection::Write() {
  if (closed_ || !writing_.empty() || pending_.empty()) return;
  writing_.swap(pending_);
  boost::asio::async_write(
      socket_, boost::asio::buffer(writing_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
        self->writing_.clear();
        if (ec) {
          self->closed_ = true;
          return;
        }
        self->Write();
      });
}

}  // namespace meshq::provider_sim
