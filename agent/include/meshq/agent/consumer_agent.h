// ConsumerAgent: the application-facing side of the mesh. Accepts HTTP on one port from every I/O
// thread, routes calls through a per-thread ConsumerTransport, and keeps the transports' view of
// the providers current from the etcd watch.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "meshq/agent/http_options.h"
#include "meshq/agent/registry_access.h"
#include "meshq/agent/transport.h"
#include "meshq/status.h"

namespace meshq::agent {

class IoThreads;
class ServiceWatcher;

class ConsumerAgent {
 public:
  struct Options {
    std::string listen = "127.0.0.1:0";
    int threads = 1;
    std::string etcd = "http://127.0.0.1:2379";  // empty: no registry (endpoints set by hand)
    RegistryAccess etcd_access;                  // TLS and user for a secured etcd
    std::string service_prefix = "/meshq/services/";
    HttpOptions http;
    std::chrono::milliseconds drain_timeout{2000};  // Stop() waits this long for calls taken
  };

  ConsumerAgent(Options options, ConsumerTransportFactory factory);
  ~ConsumerAgent();

  // Binds, starts the I/O threads and the registry watch. After OK, port() is the bound port.
  Status Start();
  uint16_t port() const { return port_; }
  // Replaces the endpoints on every thread (what the watch does; also for tests without etcd).
  void SetEndpoints(const std::vector<ProviderEndpoint>& endpoints);
  // Stops accepting, lets the calls already taken finish (up to drain_timeout), fails the rest,
  // joins the threads. Idempotent.
  void Stop();
  // Connections closed by the HTTP timeouts so far. Thread-safe.
  const HttpTimeoutCounts& timeouts() const { return timeouts_; }

 private:
  struct Worker;
  void Accept(Worker* w);

  Options options_;
  ConsumerTransportFactory factory_;
  HttpTimeoutCounts timeouts_;  // outlives the threads: their connections count into it
  std::unique_ptr<IoThreads> threads_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<ServiceWatcher> watcher_;
  uint16_t port_ = 0;
  bool stopped_ = false;
};

}  // namespace meshq::agent
