// AgentMetrics: what a consumer- or provider-agent counts for /metrics (docs/metrics.md, "Agents"),
// registered in one MetricsRegistry. Updates on the call path are meshq/metrics.h counters,
// gauges and histograms (per-thread cells: no lock, no cache line shared per call); the rare
// state changes (an endpoint seen, the registry watch up or down, a broker link lost) take a
// mutex or an atomic store. Every pointer handed out stays valid as long as the AgentMetrics.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "meshq/agent/call.h"
#include "meshq/agent/provider_endpoint.h"
#include "meshq/metrics_registry.h"

namespace meshq::agent {

// The figures of one provider endpoint as seen by a consumer-agent (every thread's balancer).
struct EndpointCells {
  Gauge in_flight;    // calls sent to it and not yet answered
  Counter ejections;  // times the balancers ejected it
};

class AgentMetrics {
 public:
  // The hops a call's time is split into; each role records the ones it sees.
  enum class Hop {
    kProviderAgent,  // consumer, direct: sent to a provider-agent -> its answer
    kMqRequest,      // provider, mq: the requester stamped it -> this responder took it
    kMqReply,        // consumer, mq: the responder stamped the reply -> this requester took it
  };

  // `role` is "consumer" or "provider" (a label of every series); `registry` outlives this.
  AgentMetrics(MetricsRegistry* registry, std::string_view role);
  AgentMetrics(const AgentMetrics&) = delete;
  AgentMetrics& operator=(const AgentMetrics&) = delete;

  MetricsRegistry& registry() { return *registry_; }

  // A call finished with `status`, `elapsed` after it arrived (consumer: its HTTP request was
  // read; provider: its transport handed it over).
  void CallDone(CallStatus status, Clock::duration elapsed) {
    calls_[static_cast<size_t>(status)]->Inc();
    call_seconds_->Observe(Nanos(elapsed));
  }
  // An HTTP request that was refused before becoming a call (malformed form, missing field).
  void RequestRefused() { calls_[static_cast<size_t>(CallStatus::kBadRequest)]->Inc(); }
  Histogram* hop(Hop h) { return hops_[static_cast<size_t>(h)]; }

  // Consumer: the cells of the endpoint at `address`, created on first use (takes a mutex: call
  // when an endpoint appears, not per call).
  EndpointCells* Endpoint(const std::string& address);
  // Consumer: the endpoints the registry lists now (the ones /metrics shows).
  void SetRegistered(const std::vector<ProviderEndpoint>& endpoints);
  // Consumer: the registry watch is streaming changes (true) or retrying (false).
  void WatchState(bool up);
  // Provider: the registration's lease refresh failed / the agent is registered (or not).
  void LeaseRefreshFailed() { lease_failures_->Inc(); }
  void Registered(bool yes) { registered_.store(yes, std::memory_order_relaxed); }
  // MQ mode, on the transport's thread: its broker connection went up or down.
  void BrokerConnection(bool up) { broker_links_up_->Add(up ? 1 : -1); }
  // MQ provider: a thread stopped taking calls because the provider looks down / took again.
  void ProviderPaused(bool paused) {
    paused_->Add(paused ? 1 : -1);
    if (paused) pauses_->Inc();
  }
  // MQ provider: a call the provider never saw, handed back to the broker for another agent.
  void CallGivenBack() { given_back_->Inc(); }

  // Healthy: the watch is up (consumer) or the registration holds (provider); else why not.
  // Whether a registry is used at all is the caller's to say.
  bool watch_up() const { return watch_up_.load(std::memory_order_relaxed); }
  bool registered() const { return registered_.load(std::memory_order_relaxed); }

 private:
  static uint64_t Nanos(Clock::duration d) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    return ns > 0 ? static_cast<uint64_t>(ns) : 0;
  }

  MetricsRegistry* registry_;
  std::array<Counter*, 8> calls_{};  // by CallStatus
  Histogram* call_seconds_;
  std::array<Histogram*, 3> hops_{};
  Counter* watch_restarts_;
  Counter* lease_failures_;
  Gauge* broker_links_up_;
  Gauge* paused_;
  Counter* pauses_;
  Counter* given_back_;
  std::atomic<bool> watch_up_{false};
  std::atomic<bool> registered_{false};

  std::mutex mu_;  // guards the two below, never taken per call
  std::map<std::string, std::unique_ptr<EndpointCells>> endpoints_;
  std::vector<std::string> registered_endpoints_;
};

}  // namespace meshq::agent
