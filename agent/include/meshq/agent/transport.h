// The consumer-to-provider leg of the mesh, abstracted so the HTTP side (consumer-agent) and the
// Dubbo side (provider-agent) stay the same whether calls go agent-to-agent over TCP (--mode
// direct) or through the bridge's RPC layer (--mode mq).
//
// Consumer side: one ConsumerTransport per I/O thread, created by a ConsumerTransportFactory on
// that thread's io_context; the HTTP connections of the thread Invoke() it.
// Provider side: one ProviderTransport per I/O thread receives calls from consumers and hands
// each one to the thread's local Invoker (the Dubbo client), sending the CallResult back.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "meshq/agent/call.h"
#include "meshq/agent/provider_endpoint.h"
#include "meshq/status.h"

namespace meshq::agent {

class ConsumerTransport : public Invoker {
 public:
  // The provider endpoints currently registered (complete set, from the etcd watch); called on
  // this transport's thread. A transport that does not route by endpoint may ignore it.
  virtual void UpdateEndpoints(const std::vector<ProviderEndpoint>& endpoints) = 0;
  // Human-readable state, one line per endpoint ("<address> weight=W inflight=N ..."), for the
  // consumer-agent's GET /endpoints page and for tests.
  virtual std::string Describe() const = 0;
  // Stops taking calls, fails the pending ones (kLost/kNotExecuted), closes connections.
  virtual void Shutdown() = 0;
};

using ConsumerTransportFactory =
    std::function<std::unique_ptr<ConsumerTransport>(boost::asio::io_context& io, int thread)>;

class ProviderTransport {
 public:
  virtual ~ProviderTransport() = default;
  // Begins receiving calls and passing them to `local` (owned by the caller, same thread).
  virtual Status Start(Invoker* local) = 0;
  // Where consumers reach this provider ("host:port"), published in the registry.
  virtual std::string address() const = 0;
  // Graceful stop: take no new calls (tell consumers), finish the pending ones, then close.
  virtual void Drain() = 0;
  // Calls still being executed; the agent waits for 0 (bounded) after Drain() before exiting.
  virtual size_t pending() const = 0;
};

using ProviderTransportFactory =
    std::function<std::unique_ptr<ProviderTransport>(boost::asio::io_context& io, int thread)>;

}  // namespace meshq::agent
