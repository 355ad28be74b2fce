// MetricsServer: the small HTTP responder of a server's operational endpoints, on a thread and
// io_context of its own (never the data path's):
//   GET /metrics  200, the registry's text exposition (format 0.0.4)
//   GET /healthz  200 "ok" when the health check passes, else 503 with its reason
//   anything else 404 (405 for a method other than GET or HEAD, 400 for a malformed request,
//   431 for a request head over the limit)
// One request per connection (the answer closes it). Bounded: a request head's size, the time a
// connection may take, and the connections served at once (one more is answered 503 and closed).
//
// Usage:
//   meshq::MetricsServerOptions o;
//   o.port = 0;  // ephemeral
//   std::unique_ptr<meshq::MetricsServer> server;
//   meshq::Status s = meshq::MetricsServer::Start(o, &registry, [] { return Status::OK(); },
//                                                 &server);
//   printf("metrics on %s:%u\n", o.bind.c_str(), server->port());
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "meshq/metrics_registry.h"
#include "meshq/status.h"

namespace meshq {

struct MetricsServerOptions {
  std::string bind = "127.0.0.1";   // loopback unless told otherwise
  uint16_t port = 0;                // 0 = an ephemeral port (see MetricsServer::port())
  size_t max_connections = 8;       // served at once
  size_t max_request_bytes = 8192;  // a request head's limit
  // A connection must have sent its request and taken its answer within this.
  std::chrono::milliseconds timeout{10000};
  std::string thread_name = "meshq-metrics";  // for top -H, perf and /proc (15 chars at most)
};

class MetricsServer {
 public:
  // OK: healthy; otherwise /healthz answers 503 with the status's message. Runs on the server's
  // thread.
  using HealthCheck = std::function<Status()>;

  // Binds and starts serving `registry` (which must outlive the server). IOError when the
  // address cannot be bound.
  static Status Start(const MetricsServerOptions& options, MetricsRegistry* registry,
                      HealthCheck health, std::unique_ptr<MetricsServer>* server);
  // Stops serving and joins the thread.
  virtual ~MetricsServer() = default;

  // The bound port (the ephemeral one when options.port was 0).
  virtual uint16_t port() const = 0;
};

}  // namespace meshq
