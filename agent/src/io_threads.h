// IoThreads: N threads, each running its own io_context (no shared event loop, no locks between
// threads); objects created for thread i live and are called only on io(i).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace meshq::agent {

class IoThreads {
 public:
  explicit IoThreads(int count);
  ~IoThreads();
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  int size() const { return static_cast<int>(contexts_.size()); }
  boost::asio::io_context& io(int i) { return *contexts_[i]; }

  void Start();
  // Lets each loop finish its queued work, then stops it and joins. Idempotent.
  void Stop();
  // Runs `fn` on thread i and waits for it (for setup and teardown, never on the data path).
  void RunOn(int i, const std::function<void()>& fn);

 private:
  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<Guard> guards_;
  std::vector<std::thread> threads_;
};

// Binds a listening socket on `address` ("host:port"; port 0 picks one) with SO_REUSEPORT so
// every I/O thread can own an acceptor on the same port (the kernel spreads connections).
boost::asio::ip::tcp::acceptor ListenReusePort(boost::asio::io_context& io,
                                               const boost::asio::ip::tcp::endpoint& at,
                                               boost::system::error_code& ec);

}  // namespace meshq::agent
