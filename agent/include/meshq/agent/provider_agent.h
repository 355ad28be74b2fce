// ProviderAgent: the provider-host side of the mesh. Per I/O thread a DubboClient to the local
// provider and a ProviderTransport taking calls from consumers; the endpoint is registered in etcd
// under a lease for as long as the agent runs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "meshq/agent/dubbo_client.h"
#include "meshq/agent/registry_access.h"
#include "meshq/agent/transport.h"
#include "meshq/status.h"

namespace meshq::agent {

class AgentMetrics;
class IoThreads;
class ServiceRegistration;

class ProviderAgent {
 public:
  struct Options {
    int threads = 1;
    std::string etcd = "http://127.0.0.1:2379";  // empty: do not register
    RegistryAccess etcd_access;                  // TLS and user for a secured etcd
    std::string service_prefix = "/meshq/services/";
    std::string service = "com.alibaba.dubbo.performance.demo.provider.IHelloService";
    int weight = 1;
    int lease_ttl_seconds = 3;
    std::chrono::milliseconds drain_timeout{3000};
    DubboClient::Options dubbo;
    AgentMetrics* metrics = nullptr;  // calls by outcome and time, the registration's state
  };

  ProviderAgent(Options options, ProviderTransportFactory factory);
  ~ProviderAgent();

  // Starts the threads and transports, then registers. After OK, address() is where consumers
  // connect.
  Status Start();
  std::string address() const { return address_; }
  // Deregisters, drains (consumers told to go away, pending calls answered, bounded by
  // drain_timeout), then stops. Idempotent.
  void Stop();

 private:
  struct Worker;

  Options options_;
  ProviderTransportFactory factory_;
  std::unique_ptr<IoThreads> threads_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<ServiceRegistration> registration_;
  std::string address_;
  bool stopped_ = false;
};

}  // namespace meshq::agent
