// SimServer: acceptor, per-thread io_contexts, shutdown, counters.
#include "sim_server.h"

#include <boost/asio/post.hpp>
#include <thread>

#include "sim_connection.h"

namespace meshq::provider_sim {

using boost::asio::ip::tcp;

SimServer::SimServer(SimOptions options)
    : options_(std::move(options)),
      contexts_([&] {
        std::vector<std::unique_ptr<boost::asio::io_context>> v;
        for (int i = 0; i < std::max(1, options_.threads); ++i) {
          v.push_back(std::make_unique<boost::asio::io_context>(1));
        }
        return v;
      }()),
      acceptor_(*contexts_[0]),
      limiter_(options_.capacity),
      latency_(
          options_.dist, options_.latency_ms,
          options_.latency_stddev_ms >= 0 ? options_.latency_stddev_ms : options_.latency_ms / 4) {}

SimServer::~SimServer() = default;

Status SimServer::Start() {
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(options_.bind, ec);
  if (ec) return Status::InvalidArgument("bad bind address " + options_.bind);
  const tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::IOError("listen on " + options_.bind + ":" + std::to_string(options_.port) +
                           ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  Accept();
  return Status::OK();
}

void SimServer::Accept() {
  auto& ctx = *contexts_[next_context_];
  next_context_ = (next_context_ + 1) % contexts_.size();
  acceptor_.async_accept(ctx, [this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      counters_.connections.fetch_add(1, std::memory_order_relaxed);
      std::make_shared<SimConnection>(std::move(socket), &limiter_, &latency_, &counters_,
                                      options_.max_body, &options_.faults)
          ->Start();
    }
    Accept();
  });
}

void SimServer::Run() {
  // Keep the other contexts alive while they have no connections yet.
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards;
  for (auto& c : contexts_) guards.push_back(boost::asio::make_work_guard(*c));
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < contexts_.size(); ++i) {
    threads.emplace_back([this, i] { contexts_[i]->run(); });
  }
  contexts_[0]->run();
  for (auto& t : threads) t.join();
}

void SimServer::Stop() {
  boost::asio::post(*contexts_[0], [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
  for (auto& c : contexts_) c->stop();
}

std::string SimServer::CountersLine() const {
  return "calls=" + std::to_string(counters_.calls.load()) +
         " heartbeats=" + std::to_string(counters_.heartbeats.load()) +
         " rejected=" + std::to_string(counters_.rejected.load()) +
         " connections=" + std::to_string(counters_.connections.load()) +
         " closed=" + std::to_string(counters_.closed.load()) +
         " dropped=" + std::to_string(counters_.dropped.load()) +
         " max_concurrent=" + std::to_string(limiter_.max_running()) +
         " max_queued=" + std::to_string(limiter_.max_waiting());
}

}  // namespace meshq::provider_sim
