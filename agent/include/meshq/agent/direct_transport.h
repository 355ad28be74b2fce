// DirectTransport (--mode direct, consumer side): picks a provider-agent with the LoadBalancer and
// sends the call over that agent's AgentLink; a call that provably never reached a provider is
// retried on another endpoint.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <unordered_map>

#include "meshq/agent/agent_link.h"
#include "meshq/agent/load_balancer.h"
#include "meshq/agent/transport.h"

namespace meshq::agent {

class DirectTransport : public ConsumerTransport {
 public:
  struct Options {
    int max_attempts = 3;  // endpoints tried for one call while it is not executed
    LoadBalancer::Options balancer;
    AgentLink::Options link;
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
  AgentLink* LinkFor(const LoadBalancer::Endpoint& endpoint);
  void OnLinkDown(uint64_t endpoint_id, AgentLink* link, bool failed);

  boost::asio::io_context& io_;
  const Options options_;
  LoadBalancer balancer_;
  std::unordered_map<uint64_t, std::shared_ptr<AgentLink>> links_;  // by endpoint id
  bool shut_down_ = false;
  // Cleared on destruction so callbacks of links that outlive the transport do nothing.
  std::shared_ptr<DirectTransport*> self_;
};

}  // namespace meshq::agent
