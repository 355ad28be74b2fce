// MQ mode (--mode mq): the consumer-to-provider leg carried by the bridge's request-reply layer.
// The consumer side sends each call with an RpcRequester to the service named by the call's
// interface; the provider side serves that service with an RpcResponder and runs each call on
// the local Dubbo provider. Which backend carries them (meshq-broker or NATS JetStream) is the
// bridge's choice (rpc_backend.h), not theirs. Calls are persisted messages in the broker, so they
// can be audited (meshq audit) and survive a provider or broker restart within their deadlines.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "meshq/agent/transport.h"
#include "meshq/bridge/broker_client.h"
#include "meshq/bridge/rpc_backend.h"

namespace meshq::agent {

class AgentMetrics;

struct MqOptions {
  bridge::BrokerAddress broker;
  // Not empty: the calls go through this NATS JetStream cluster instead of `broker`
  // (--mq-url nats://...; docs/nats-backend.md).
  bridge::NatsConfig nats;
  // Consumer: reply queues are "rpc.rep.<client_id_prefix>-t<thread>".
  std::string client_id_prefix;
  // When the broker acknowledges requests and replies (see bridge::RpcClientOptions): kWritten
  // survives a broker kill -9, kSynced also a machine crash, kStored neither.
  bridge::PutDurability durability = bridge::PutDurability::kWritten;
  // Provider: calls taken from the broker and not yet answered, per thread. Set to the provider's
  // capacity, calls wait in the broker (where any free provider can take them) rather than in
  // one provider's queue.
  uint32_t max_in_flight = 512;
  // Broker links up, provider pauses and calls given back (optional).
  AgentMetrics* metrics = nullptr;
};

// The call <-> RPC payload mapping (pure; exposed for tests).
void EncodeMqCall(const CallRequest& request, std::string* payload);
bool DecodeMqCall(std::string_view payload, CallRequest* request);
void EncodeMqResult(const CallResult& result, std::string* payload);
bool DecodeMqResult(std::string_view payload, CallResult* result);

class MqConsumerTransport : public ConsumerTransport {
 public:
  MqConsumerTransport(boost::asio::io_context& io, const MqOptions& options, int thread);
  ~MqConsumerTransport() override;

  void Invoke(CallRequest request, CallCallback done) override;
  void UpdateEndpoints(const std::vector<ProviderEndpoint>& endpoints) override;
  std::string Describe() const override;
  void Shutdown() override;

  static ConsumerTransportFactory Factory(MqOptions options);

 private:
  std::shared_ptr<bridge::RpcRequester> client_;
  std::vector<ProviderEndpoint> endpoints_;  // from the registry, for Describe only
  bool shut_down_ = false;
};

// A provider-agent's side: one RpcServer taking the service's requests from the broker and
// invoking the local provider. While the provider is down it takes none: a call the provider
// never saw (unreachable) is handed back to the broker for another provider-agent and the
// server pauses; so do two timeouts in a row (a hung provider). After a pause (100 ms, doubling
// to 2 s while the failures go on) it takes one call at a time until one succeeds, then all.
class MqProviderTransport : public ProviderTransport {
 public:
  // `identity` ("host:port", unique per provider, e.g. its local Dubbo provider's address) is
  // what address() reports for the registry entry.
  MqProviderTransport(boost::asio::io_context& io, const MqOptions& options, std::string service,
                      std::string identity);
  ~MqProviderTransport() override;

  Status Start(Invoker* local) override;
  // The identity given at construction: consumers do not connect to it in MQ mode (calls go
  // through the broker), but it names this provider in the registry.
  std::string address() const override;
  void Drain() override;
  size_t pending() const override;

  static ProviderTransportFactory Factory(MqOptions options, std::string service,
                                          std::string identity);

 private:
  boost::asio::io_context& io_;
  const MqOptions options_;
  const std::string service_;
  const std::string identity_;
  std::shared_ptr<bridge::RpcResponder> server_;
  struct Health;
  std::shared_ptr<Health> health_;
};

}  // namespace meshq::agent
