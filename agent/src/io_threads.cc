// IoThreads and the shared-port listener used by both agents.
#include "io_threads.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <future>

namespace meshq::agent {

IoThreads::IoThreads(int count) {
  for (int i = 0; i < std::max(1, count); ++i) {
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    guards_.emplace_back(contexts_.back()->get_executor());
  }
}

IoThreads::~IoThreads() { Stop(); }

void IoThreads::Start() {
  for (auto& io : contexts_) {
    threads_.emplace_back([ctx = io.get()] { ctx->run(); });
  }
}

void IoThreads::Stop() {
  for (auto& g : guards_) g.reset();
  for (auto& io : contexts_) io->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void IoThreads::RunOn(int i, const std::function<void()>& fn) {
  if (threads_.empty()) {  // not started: run inline (setup before Start)
    fn();
    return;
  }
  std::promise<void> done;
  boost::asio::post(*contexts_[i], [&] {
    fn();
    done.set_value();
  });
  done.get_future().wait();
}

boost::asio::ip::tcp::acceptor ListenReusePort(boost::asio::io_context& io,
                                               const boost::asio::ip::tcp::endpoint& at,
                                               boost::system::error_code& ec) {
  using reuse_port = boost::asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
  boost::asio::ip::tcp::acceptor acceptor(io);
  acceptor.open(at.protocol(), ec);
  if (!ec) acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.set_option(reuse_port(true), ec);
  if (!ec) acceptor.bind(at, ec);
  if (!ec) acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
  return acceptor;
}

}  // namespace meshq::agent
