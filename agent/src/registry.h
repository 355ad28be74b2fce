// Service registry on etcd: a provider-agent registers its endpoint under a lease kept alive in the
// background; a consumer-agent watches the prefix (streaming, no polling) and gets full snapshots.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "etcd_client.h"
#include "meshq/agent/provider_endpoint.h"

namespace meshq::agent {

class AgentMetrics;

// Keeps one endpoint registered while alive. If the lease is lost (etcd restarted, long pause) it
// re-grants and re-puts. Stop() (and the destructor) revoke the lease, which deletes the key.
class ServiceRegistration {
 public:
  // `metrics` (optional) learns whether the lease holds and counts failed refreshes; `access`
  // is how to reach a secured etcd (see EtcdClient).
  ServiceRegistration(std::string etcd_endpoint, std::string key, std::string value,
                      int ttl_seconds, AgentMetrics* metrics = nullptr,
                      const RegistryAccess& access = {});
  ~ServiceRegistration();
  ServiceRegistration(const ServiceRegistration&) = delete;
  ServiceRegistration& operator=(const ServiceRegistration&) = delete;

  // Registers synchronously (so the caller knows etcd accepted it), then keeps the lease alive.
  Status Start();
  // Deregisters (revokes the lease) and stops the keep-alive thread. Idempotent.
  void Stop();

 private:
  Status Register();
  void KeepAliveLoop();

  EtcdClient etcd_;
  const std::string key_;
  const std::string value_;
  const int ttl_seconds_;
  AgentMetrics* const metrics_;
  int64_t lease_id_ = 0;  // owned by the keep-alive thread once started
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// Watches every endpoint under `prefix` and calls `on_change` (from its own thread) with the
// complete current set after the initial load and after every change.
class ServiceWatcher {
 public:
  using Listener = std::function<void(const std::vector<ProviderEndpoint>&)>;
  // `metrics` (optional) learns whether the watch streams or retries; `access` as above.
  ServiceWatcher(std::string etcd_endpoint, std::string prefix, Listener on_change,
                 AgentMetrics* metrics = nullptr, const RegistryAccess& access = {});
  ~ServiceWatcher();
  ServiceWatcher(const ServiceWatcher&) = delete;
  ServiceWatcher& operator=(const ServiceWatcher&) = delete;

  void Start();
  void Stop();  // Idempotent; no callback runs after it returns.

 private:
  void Run();
  void Publish();

  const std::string etcd_endpoint_;
  const RegistryAccess access_;
  const std::string prefix_;
  const Listener on_change_;
  AgentMetrics* const metrics_;
  std::map<std::string, ProviderEndpoint> endpoints_;  // by key; watcher thread only
  std::unique_ptr<EtcdClient> watch_client_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace meshq::agent
