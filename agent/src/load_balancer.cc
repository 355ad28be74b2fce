// LoadBalancer: a linear scan per pick; a mesh has a handful of providers per service, and a scan
// of a small vector beats any index on that size.
#include "load_balancer.h"

#include <algorithm>
#include <limits>

namespace meshq::agent {

void LoadBalancer::SetEndpoints(const std::vector<ProviderEndpoint>& endpoints) {
  std::vector<Endpoint> next;
  next.reserve(endpoints.size());
  for (const ProviderEndpoint& info : endpoints) {
    auto old = std::find_if(endpoints_.begin(), endpoints_.end(),
                            [&](const Endpoint& e) { return e.info.key == info.key; });
    if (old != endpoints_.end() && old->info.address() == info.address()) {
      Endpoint kept = *old;
      kept.info = info;  // the weight may have changed
      next.push_back(std::move(kept));
    } else {
      Endpoint fresh;
      fresh.id = next_id_++;
      fresh.info = info;
      if (options_.metrics) fresh.cells = options_.metrics->Endpoint(info.address());
      next.push_back(std::move(fresh));
    }
  }
  // A dropped endpoint's calls still in flight are no longer counted here (their answers are
  // ignored): take them out of its gauge too.
  for (const Endpoint& e : endpoints_) {
    if (e.cells == nullptr || e.inflight == 0) continue;
    const bool kept =
        std::any_of(next.begin(), next.end(), [&](const Endpoint& n) { return n.id == e.id; });
    if (!kept) e.cells->in_flight.Add(-e.inflight);
  }
  endpoints_ = std::move(next);
}

const LoadBalancer::Endpoint* LoadBalancer::Pick(std::string_view service, Clock::time_point now,
                                                 const std::vector<uint64_t>& exclude) const {
  double best_latency = std::numeric_limits<double>::infinity();
  for (const Endpoint& e : endpoints_) {
    if (e.info.service == service && e.latency_ewma_us > 0 && e.ejected_until <= now) {
      best_latency = std::min(best_latency, e.latency_ewma_us);
    }
  }
  const Endpoint* best = nullptr;
  double best_score = std::numeric_limits<double>::infinity();
  const Endpoint* least_ejected = nullptr;
  for (const Endpoint& e : endpoints_) {
    if (e.info.service != service) continue;
    if (std::find(exclude.begin(), exclude.end(), e.id) != exclude.end()) continue;
    if (e.ejected_until > now) {
      if (least_ejected == nullptr || e.ejected_until < least_ejected->ejected_until) {
        least_ejected = &e;
      }
      continue;
    }
    double score = (e.inflight + 1.0) / std::max(1, e.info.weight);
    // Latency only matters when clearly worse than the best: equal providers queueing in
    // proportion to their capacity must not be disturbed by measurement noise.
    if (e.latency_ewma_us > 0 && best_latency < std::numeric_limits<double>::infinity()) {
      const double ratio = e.latency_ewma_us / best_latency;
      if (ratio >= options_.latency_deadband)
        score *= std::min(ratio, options_.max_latency_penalty);
    }
    if (score < best_score) {
      best_score = score;
      best = &e;
    }
  }
  return best != nullptr ? best : least_ejected;
}

const LoadBalancer::Endpoint* LoadBalancer::Find(uint64_t id) const {
  for (const Endpoint& e : endpoints_) {
    if (e.id == id) return &e;
  }
  return nullptr;
}

LoadBalancer::Endpoint* LoadBalancer::FindMutable(uint64_t id) {
  return const_cast<Endpoint*>(Find(id));
}

void LoadBalancer::OnStart(uint64_t id) {
  Endpoint* e = FindMutable(id);
  if (e == nullptr) return;
  ++e->inflight;
  if (e->cells) e->cells->in_flight.Inc();
}

void LoadBalancer::Settle(Endpoint* e) {
  if (e->inflight <= 0) return;
  --e->inflight;
  if (e->cells) e->cells->in_flight.Dec();
}

void LoadBalancer::OnSuccess(uint64_t id, std::chrono::microseconds latency) {
  Endpoint* e = FindMutable(id);
  if (e == nullptr) return;
  Settle(e);
  const double sample = static_cast<double>(std::max<int64_t>(1, latency.count()));
  e->latency_ewma_us =
      e->latency_ewma_us == 0
          ? sample
          : e->latency_ewma_us + options_.latency_alpha * (sample - e->latency_ewma_us);
  e->consecutive_failures = 0;
  e->ejections = 0;
}

void LoadBalancer::OnFailure(uint64_t id, Clock::time_point now) {
  Endpoint* e = FindMutable(id);
  if (e == nullptr) return;
  Settle(e);
  if (++e->consecutive_failures >= options_.failures_to_eject) EjectEndpoint(*e, now);
}

void LoadBalancer::OnAbandon(uint64_t id) {
  if (Endpoint* e = FindMutable(id)) Settle(e);
}

void LoadBalancer::Eject(uint64_t id, Clock::time_point now) {
  if (Endpoint* e = FindMutable(id)) EjectEndpoint(*e, now);
}

void LoadBalancer::EjectEndpoint(Endpoint& e, Clock::time_point now) {
  // Already ejected: a burst of failures from calls in flight must not stretch the back-off.
  if (e.ejected_until > now) return;
  auto backoff = options_.first_ejection * (1 << std::min(e.ejections, 10));
  e.ejected_until = now + std::min<std::chrono::milliseconds>(backoff, options_.max_ejection);
  ++e.ejections;
  e.consecutive_failures = 0;
  if (e.cells) e.cells->ejections.Inc();
}

}  // namespace meshq::agent
