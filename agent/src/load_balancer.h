// LoadBalancer: picks a provider endpoint for each call. Weighted least-load: the endpoint with the
// smallest (in-flight + 1) / weight wins, scaled up when its measured latency is clearly worse than
// the best one's; endpoints that fail are ejected for a growing back-off, then tried again.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "meshq/agent/agent_metrics.h"
#include "meshq/agent/direct_transport.h"
#include "meshq/agent/provider_endpoint.h"

namespace meshq::agent {

// Not thread-safe by design: every I/O thread owns one balancer (no locks on the data path).
class LoadBalancer {
 public:
  using Clock = std::chrono::steady_clock;

  using Options = BalancerOptions;  // declared with DirectTransport, which takes them

  struct Endpoint {
    uint64_t id = 0;  // stable for the endpoint's lifetime in this balancer; never reused
    ProviderEndpoint info;
    int inflight = 0;
    double latency_ewma_us = 0;  // 0 until the first sample
    int consecutive_failures = 0;
    int ejections = 0;  // consecutive ejections, for the back-off
    Clock::time_point ejected_until{};
    EndpointCells* cells = nullptr;  // its metrics, with options.metrics
  };

  LoadBalancer() = default;
  explicit LoadBalancer(Options options) : options_(options) {}

  // Replaces the endpoint set. Endpoints whose key is unchanged keep their id and state.
  void SetEndpoints(const std::vector<ProviderEndpoint>& endpoints);

  // The best endpoint serving `service`, skipping ids in `exclude` (already tried for this call).
  // When every candidate is ejected, the one whose ejection ends first is returned anyway, so a
  // transient failure of all providers does not become an outage. nullptr when none matches.
  const Endpoint* Pick(std::string_view service, Clock::time_point now,
                       const std::vector<uint64_t>& exclude = {}) const;

  // Call accounting. Unknown ids (endpoint removed meanwhile) are ignored.
  void OnStart(uint64_t id);
  void OnSuccess(uint64_t id, std::chrono::microseconds latency);
  // A failed call, counted towards ejection.
  void OnFailure(uint64_t id, Clock::time_point now);
  // The call ended without a verdict on the endpoint (e.g. the caller gave up): in-flight only.
  void OnAbandon(uint64_t id);
  // Ejects at once (connection refused or lost): the endpoint is known to be unusable.
  void Eject(uint64_t id, Clock::time_point now);

  const std::vector<Endpoint>& endpoints() const { return endpoints_; }
  const Endpoint* Find(uint64_t id) const;

 private:
  Endpoint* FindMutable(uint64_t id);
  void EjectEndpoint(Endpoint& ep, Clock::time_point now);
  // One of its calls ended: in-flight down by one (never below 0).
  void Settle(Endpoint* e);

  Options options_;
  std::vector<Endpoint> endpoints_;
  uint64_t next_id_ = 1;
};

}  // namespace meshq::agent
