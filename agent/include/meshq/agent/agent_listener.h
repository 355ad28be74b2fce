// AgentListener (--mode direct, provider side): accepts consumer-agent links and runs every call
// they carry on the thread's local Invoker (the Dubbo client), answering on the same link.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "meshq/accept_guard.h"
#include "meshq/agent/direct_transport.h"
#include "meshq/agent/transport.h"

namespace meshq::agent {

class AgentSession;

class AgentListener : public ProviderTransport {
 public:
  struct Options {
    // Bounds every agent frame in both directions: a longer request closes the link (a corrupt
    // peer), an answer that would be longer is replaced by a `too large` response.
    std::size_t max_frame = kDefaultMaxAgentFrame;
    // A link on which nothing arrived for this long is closed as half-open: a live
    // consumer-agent pings every AgentLinkOptions::ping_interval when it hears nothing.
    std::chrono::milliseconds silence_limit{30000};
    // TLS (meshq::MakeTlsServerContext; shared by every listener). Made with a client CA, every
    // link must present a certificate it signed: a plaintext peer, or one with another CA's
    // certificate, fails the handshake and is closed unanswered. Null: plaintext.
    std::shared_ptr<boost::asio::ssl::context> tls;
    // A TLS link must finish its handshake within this, else it is closed.
    std::chrono::milliseconds handshake_timeout{5000};
  };

  // Listens on *listen ("host:port"). Listeners of one agent (one per thread) share `listen`:
  // the first to start replaces port 0 with the bound port, so the others join that port.
  AgentListener(boost::asio::io_context& io, std::shared_ptr<std::string> listen, Options options);
  AgentListener(boost::asio::io_context& io, std::shared_ptr<std::string> listen)
      : AgentListener(io, std::move(listen), Options{}) {}
  ~AgentListener() override;

  Status Start(Invoker* local) override;
  std::string address() const override;
  void Drain() override;
  size_t pending() const override;

  // One listener per I/O thread; the first binds (port 0 becomes a real port), the rest share it.
  static ProviderTransportFactory Factory(std::string listen, Options options);
  static ProviderTransportFactory Factory(std::string listen) {
    return Factory(std::move(listen), Options{});
  }

 private:
  void Accept();

  boost::asio::io_context& io_;
  std::shared_ptr<std::string> listen_;
  const Options options_;
  std::string address_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;  // pause after accept failed for want of descriptors
  AcceptGuard accept_guard_;
  Invoker* local_ = nullptr;
  bool draining_ = false;
  std::vector<std::weak_ptr<AgentSession>> sessions_;
};

}  // namespace meshq::agent
