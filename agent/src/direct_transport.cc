// DirectTransport: load balancing, per-endpoint links and the retry rule (retry only what was
// never sent; a sent call whose connection died is reported, not repeated).
#include "meshq/agent/direct_transport.h"

#include <cstdio>
#include <sstream>

#include "agent_link.h"
#include "load_balancer.h"
#include "meshq/agent/agent_metrics.h"

namespace meshq::agent {

struct DirectTransport::Attempt {
  CallRequest request;
  CallCallback done;
  std::vector<uint64_t> tried;  // endpoint ids
  CallResult last{CallStatus::kNoProvider, ""};
};

DirectTransport::DirectTransport(boost::asio::io_context& io, Options options)
    : io_(io),
      options_(options),
      balancer_(std::make_unique<LoadBalancer>(options.balancer)),
      self_(std::make_shared<DirectTransport*>(this)) {}

DirectTransport::~DirectTransport() {
  *self_ = nullptr;
  Shutdown();
}

ConsumerTransportFactory DirectTransport::Factory(Options options) {
  return [options](boost::asio::io_context& io, int) {
    return std::make_unique<DirectTransport>(io, options);
  };
}

void DirectTransport::Invoke(CallRequest request, CallCallback done) {
  if (shut_down_) {
    done(CallResult::Error(CallStatus::kNotExecuted, "consumer-agent is shutting down"));
    return;
  }
  auto attempt = std::make_shared<Attempt>();
  attempt->request = std::move(request);
  attempt->done = std::move(done);
  TryNext(std::move(attempt));
}

void DirectTransport::TryNext(std::shared_ptr<Attempt> attempt) {
  const auto now = Clock::now();
  if (now >= attempt->request.deadline) {
    attempt->done(
        CallResult::Error(CallStatus::kTimeout, "deadline passed before a provider answered"));
    return;
  }
  const LoadBalancer::Endpoint* ep =
      static_cast<int>(attempt->tried.size()) >= options_.max_attempts || shut_down_
          ? nullptr
          : balancer_->Pick(attempt->request.interface_name, now, attempt->tried);
  if (ep == nullptr) {
    if (attempt->tried.empty()) {
      attempt->done(
          CallResult::Error(CallStatus::kNoProvider,
                            "no provider registered for " + attempt->request.interface_name));
    } else {
      attempt->done(std::move(attempt->last));
    }
    return;
  }
  const uint64_t id = ep->id;
  AgentLink* link = LinkFor(ep->id, ep->info);
  attempt->tried.push_back(id);
  balancer_->OnStart(id);
  const auto start = now;
  // The link may answer synchronously (closed link); TryNext then recurses at most max_attempts.
  link->Send(attempt->request, [self = self_, attempt, id, start](CallResult result) mutable {
    DirectTransport* t = *self;
    if (t == nullptr) {
      attempt->done(std::move(result));
      return;
    }
    if (AgentMetrics* m = t->options_.balancer.metrics) {
      m->hop(AgentMetrics::Hop::kProviderAgent)->ObserveSince(start);
    }
    switch (result.status) {
      case CallStatus::kOk:
        t->balancer_->OnSuccess(
            id, std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start));
        break;
      case CallStatus::kNotExecuted:
        t->balancer_->OnFailure(id, Clock::now());
        attempt->last = std::move(result);
        t->TryNext(std::move(attempt));
        return;
      case CallStatus::kTimeout:
      case CallStatus::kLost:
        t->balancer_->OnFailure(id, Clock::now());
        break;
      default:  // the provider answered: the endpoint works, the call did not
        t->balancer_->OnAbandon(id);
        break;
    }
    attempt->done(std::move(result));
  });
}

AgentLink* DirectTransport::LinkFor(uint64_t id, const ProviderEndpoint& endpoint) {
  auto it = links_.find(id);
  if (it != links_.end() && it->second->usable()) return it->second.get();
  auto link = std::make_shared<AgentLink>(io_, endpoint.host, endpoint.port, options_.link,
                                          [self = self_, id](AgentLink* down, bool failed) {
                                            if (DirectTransport* t = *self)
                                              t->OnLinkDown(id, down, failed);
                                          });
  AgentLink* raw = link.get();
  link->Start();
  links_[id] = link;
  return raw;
}

void DirectTransport::OnLinkDown(uint64_t endpoint_id, AgentLink* link, bool failed) {
  auto it = links_.find(endpoint_id);
  if (it != links_.end() && it->second.get() == link) {
    // Keep draining links' calls alive through their own handlers; forget the link here.
    links_.erase(it);
  }
  if (failed) balancer_->Eject(endpoint_id, Clock::now());
}

void DirectTransport::UpdateEndpoints(const std::vector<ProviderEndpoint>& endpoints) {
  balancer_->SetEndpoints(endpoints);
  for (auto it = links_.begin(); it != links_.end();) {
    if (balancer_->Find(it->first) == nullptr) {
      it->second->Retire();  // finishes its pending calls, then closes
      it = links_.erase(it);
    } else {
      ++it;
    }
  }
}

std::string DirectTransport::Describe() const {
  std::ostringstream out;
  const auto now = Clock::now();
  for (const auto& e : balancer_->endpoints()) {
    auto it = links_.find(e.id);
    out << e.info.service << ' ' << e.info.address() << " weight=" << e.info.weight
        << " inflight=" << e.inflight << " latency_us=" << static_cast<int64_t>(e.latency_ewma_us)
        << " ejected=" << (e.ejected_until > now ? 1 : 0) << " link="
        << (it == links_.end()        ? "none"
            : it->second->connected() ? "up"
                                      : "connecting")
        << '\n';
  }
  return out.str();
}

void DirectTransport::Shutdown() {
  shut_down_ = true;
  auto links = std::move(links_);
  links_.clear();
  for (auto& [id, link] : links) link->Close();
}

}  // namespace meshq::agent
