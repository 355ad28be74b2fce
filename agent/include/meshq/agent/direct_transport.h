// DirectTransport (--mode direct, consumer side): picks a provider-agent with the LoadBalancer and
// sends the call over that agent's AgentLink; a call that provably never reached a provider is
// retried on another endpoint.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "meshq/agent/transport.h"

namespace meshq::agent {

// Default limit on one agent-to-agent frame (length field value), both directions.
inline constexpr std::size_t kDefaultMaxAgentFrame = 1u << 20;

class AgentLink;
class AgentMetrics;
class LoadBalancer;

// How the LoadBalancer weighs latency and ejects failing endpoints.
struct BalancerOptions {
  double latency_alpha = 0.1;         // EWMA weight of a new latency sample
  double latency_deadband = 1.5;      // ratios to the best latency below this count as equal
  double max_latency_penalty = 16.0;  // cap on the latency factor
  int failures_to_eject = 3;          // consecutive failures before ejection
  std::chrono::milliseconds first_ejection{500};
  std::chrono::milliseconds max_ejection{8000};
  AgentMetrics* metrics = nullptr;  // per-endpoint in-flight calls and ejections
};

// Timing of one AgentLink (a consumer-agent's connection to a provider-agent).
struct AgentLinkOptions {
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds ping_interval{1000};  // when nothing was received for this long
  std::chrono::milliseconds dead_after{5000};     // nothing received for this long: close
  // Largest agent frame accepted (the provider-agent's --max-frame-bytes must not be larger):
  // a call that does not fit is refused as a bad request before it is sent.
  std::size_t max_frame = kDefaultMaxAgentFrame;
  // TLS to the provider-agents (meshq::MakeTlsClientContext; shared by every link): each
  // provider-agent's certificate must verify against its CA and carry the address the registry
  // gives for it (or `tls_server_name`). Null: plaintext.
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::string tls_server_name;
};

class DirectTransport : public ConsumerTransport {
 public:
  struct Options {
    int max_attempts = 3;  // endpoints tried for one call while it is not executed
    BalancerOptions balancer;
    AgentLinkOptions link;
  };

  DirectTransport(boost::asio::io_context& io, Options options);
  ~DirectTransport() override;

  void Invoke(CallRequest request, CallCallback done) override;
  void UpdateEndpoints(const std::vector<ProviderEndpoint>& endpoints) override;
  std::string Describe() const override;
  void Shutdown() override;

  // A factory for ConsumerAgent: one DirectTransport per I/O thread.
  static ConsumerTransportFactory Factory(Options options);

 private:
  struct Attempt;
  void TryNext(std::shared_ptr<Attempt> attempt);
  AgentLink* LinkFor(uint64_t endpoint_id, const ProviderEndpoint& endpoint);
  void OnLinkDown(uint64_t endpoint_id, AgentLink* link, bool failed);

  boost::asio::io_context& io_;
  const Options options_;
  std::unique_ptr<LoadBalancer> balancer_;
  std::unordered_map<uint64_t, std::shared_ptr<AgentLink>> links_;  // by endpoint id
  bool shut_down_ = false;
  // Cleared on destruction so callbacks of links that outlive the transport do nothing.
  std::shared_ptr<DirectTransport*> self_;
};

}  // namespace meshq::agent
