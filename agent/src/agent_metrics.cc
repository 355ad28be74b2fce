// AgentMetrics: the families (names in docs/metrics.md) and the scrape-time endpoint listing.
#include "meshq/agent/agent_metrics.h"

#include <algorithm>

namespace meshq::agent {

namespace {

// The outcome label of each CallStatus, in enum order.
constexpr const char* kOutcomes[] = {"ok",           "bad_request", "provider_error", "timeout",
                                     "not_executed", "lost",        "no_provider",    "too_large"};
constexpr const char* kHops[] = {"provider_agent", "mq_request", "mq_reply"};

}  // namespace

AgentMetrics::AgentMetrics(MetricsRegistry* registry, std::string_view role_view)
    : registry_(registry) {
  const std::string role(role_view);
  static_assert(std::size(kOutcomes) == std::tuple_size_v<decltype(calls_)>);
  for (size_t i = 0; i < calls_.size(); ++i) {
    calls_[i] = registry->AddCounter(
        "meshq_agent_requests_total",
        "Calls finished, by outcome (consumer: HTTP requests; provider: calls taken).",
        {{"role", role}, {"outcome", kOutcomes[i]}});
  }
  call_seconds_ = registry->AddHistogram(
      "meshq_agent_request_duration_seconds",
      "Time from a call's arrival to its answer (consumer: HTTP request read -> answer ready; "
      "provider: call taken -> the local provider's result).",
      HistogramBuckets::Latency(), {{"role", role}});
  for (size_t i = 0; i < hops_.size(); ++i) {
    hops_[i] = registry->AddHistogram(
        "meshq_agent_hop_duration_seconds",
        "Time of one hop of a call: provider_agent (consumer, direct: sent -> answered), "
        "mq_request (provider, mq: stamped by the requester -> taken), mq_reply (consumer, mq: "
        "stamped by the responder -> taken).",
        HistogramBuckets::Latency(), {{"role", role}, {"hop", kHops[i]}});
  }
  registry->AddCallbackFamily(
      MetricType::kGauge, "meshq_agent_endpoint_in_flight",
      "Calls sent to a registered provider endpoint and not answered yet (consumer, direct).",
      [this](std::vector<MetricSample>* out) {
        std::lock_guard lock(mu_);
        for (const std::string& a : registered_endpoints_) {
          auto it = endpoints_.find(a);
          const double v = it == endpoints_.end() ? 0 : double(it->second->in_flight.Value());
          out->push_back({{{"endpoint", a}}, v});
        }
      });
  registry->AddCallbackFamily(
      MetricType::kCounter, "meshq_agent_endpoint_ejections_total",
      "Times the balancers ejected a registered provider endpoint (consumer, direct).",
      [this](std::vector<MetricSample>* out) {
        std::lock_guard lock(mu_);
        for (const std::string& a : registered_endpoints_) {
          auto it = endpoints_.find(a);
          const double v = it == endpoints_.end() ? 0 : double(it->second->ejections.Value());
          out->push_back({{{"endpoint", a}}, v});
        }
      });
  registry->AddCallbackGauge("meshq_agent_registry_endpoints",
                             "Provider endpoints the registry lists (consumer).",
                             [this] {
                               std::lock_guard lock(mu_);
                               return double(registered_endpoints_.size());
                             },
                             {{"role", role}});
  registry->AddCallbackGauge(
      "meshq_agent_registry_watch_up",
      "1 while the registry watch streams changes, 0 while it retries (consumer).",
      [this] { return watch_up() ? 1.0 : 0.0; }, {{"role", role}});
  watch_restarts_ = registry->AddCounter(
      "meshq_agent_registry_watch_failures_total",
      "Times the registry watch failed and was started again (consumer).", {{"role", role}});
  registry->AddCallbackGauge("meshq_agent_registry_registered",
                             "1 while this provider holds its registry lease.",
                             [this] { return registered() ? 1.0 : 0.0; }, {{"role", role}});
  lease_failures_ = registry->AddCounter("meshq_agent_registry_lease_failures_total",
                                         "Lease refreshes (or revocations) that failed (provider).",
                                         {{"role", role}});
  broker_links_up_ = registry->AddGauge(
      "meshq_agent_mq_broker_connections",
      "I/O threads whose connection to the broker is up (mq mode).", {{"role", role}});
  paused_ = registry->AddGauge(
      "meshq_agent_mq_paused_threads",
      "I/O threads taking no calls because the local provider looks down (provider, mq).",
      {{"role", role}});
  pauses_ =
      registry->AddCounter("meshq_agent_mq_pauses_total",
                           "Times a thread paused taking calls (provider, mq).", {{"role", role}});
  given_back_ = registry->AddCounter(
      "meshq_agent_mq_calls_given_back_total",
      "Calls the provider never saw, handed back to the broker for another agent (provider, mq).",
      {{"role", role}});
}

EndpointCells* AgentMetrics::Endpoint(const std::string& address) {
  std::lock_guard lock(mu_);
  auto& cells = endpoints_[address];
  if (!cells) cells = std::make_unique<EndpointCells>();
  return cells.get();
}

void AgentMetrics::SetRegistered(const std::vector<ProviderEndpoint>& endpoints) {
  std::lock_guard lock(mu_);
  registered_endpoints_.clear();
  for (const ProviderEndpoint& e : endpoints) registered_endpoints_.push_back(e.address());
  // One series per address, however many services it serves.
  std::sort(registered_endpoints_.begin(), registered_endpoints_.end());
  registered_endpoints_.erase(
      std::unique(registered_endpoints_.begin(), registered_endpoints_.end()),
      registered_endpoints_.end());
}

void AgentMetrics::WatchState(bool up) {
  if (!up) watch_restarts_->Inc();
  watch_up_.store(up, std::memory_order_relaxed);
}

}  // namespace meshq::agent
