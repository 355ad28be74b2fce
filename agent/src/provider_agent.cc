// ProviderAgent: wiring of threads, Dubbo clients, transports and the registration, and the
// ordered shutdown (deregister first so consumers stop choosing us, then drain).
#include "meshq/agent/provider_agent.h"

#include "io_threads.h"
#include "meshq/agent/agent_metrics.h"
#include "registry.h"

#include <thread>

namespace meshq::agent {

namespace {

// The local provider as the transport sees it, counting each call's outcome and time.
class MeteredInvoker : public Invoker {
 public:
  MeteredInvoker(Invoker* inner, AgentMetrics* metrics) : inner_(inner), metrics_(metrics) {}
  void Invoke(CallRequest request, CallCallback done) override {
    inner_->Invoke(std::move(request), [metrics = metrics_, start = Clock::now(),
                                        done = std::move(done)](CallResult result) {
      metrics->CallDone(result.status, Clock::now() - start);
      done(std::move(result));
    });
  }

 private:
  Invoker* const inner_;
  AgentMetrics* const metrics_;
};

}  // namespace

struct ProviderAgent::Worker {
  std::unique_ptr<DubboClient> dubbo;
  std::unique_ptr<Invoker> metered;  // over dubbo, with options.metrics
  std::unique_ptr<ProviderTransport> transport;
};

ProviderAgent::ProviderAgent(Options options, ProviderTransportFactory factory)
    : options_(std::move(options)),
      factory_(std::move(factory)),
      threads_(std::make_unique<IoThreads>(options_.threads)) {}

ProviderAgent::~ProviderAgent() { Stop(); }

Status ProviderAgent::Start() {
  for (int i = 0; i < threads_->size(); ++i) {
    auto w = std::make_unique<Worker>();
    w->dubbo = std::make_unique<DubboClient>(threads_->io(i), options_.dubbo);
    w->transport = factory_(threads_->io(i), i);
    Invoker* local = w->dubbo.get();
    if (options_.metrics) {
      w->metered = std::make_unique<MeteredInvoker>(local, options_.metrics);
      local = w->metered.get();
    }
    Status s = w->transport->Start(local);
    if (!s.ok()) return s;
    address_ = w->transport->address();
    workers_.push_back(std::move(w));
  }
  threads_->Start();
  if (!options_.etcd.empty()) {
    ProviderEndpoint ep;
    ep.service = options_.service;
    if (!SplitHostPort(address_, &ep.host, &ep.port)) {
      return Status::InvalidArgument("transport address is not host:port: " + address_);
    }
    ep.weight = std::max(1, options_.weight);
    registration_ = std::make_unique<ServiceRegistration>(
        options_.etcd, ep.RegistryKey(options_.service_prefix), ep.ToRegistryValue(),
        options_.lease_ttl_seconds, options_.metrics, options_.etcd_access);
    Status s = registration_->Start();
    if (!s.ok()) return s;
  }
  return Status::OK();
}

void ProviderAgent::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (registration_) registration_->Stop();
  for (int i = 0; i < static_cast<int>(workers_.size()); ++i) {
    threads_->RunOn(i, [w = workers_[i].get()] { w->transport->Drain(); });
  }
  const auto deadline = Clock::now() + options_.drain_timeout;
  while (Clock::now() < deadline) {
    size_t pending = 0;
    for (int i = 0; i < static_cast<int>(workers_.size()); ++i) {
      threads_->RunOn(i, [&pending, w = workers_[i].get()] { pending += w->transport->pending(); });
    }
    if (pending == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // A moment for the last answers' writes to leave before the loops stop.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (int i = 0; i < static_cast<int>(workers_.size()); ++i) {
    threads_->RunOn(i, [w = workers_[i].get()] { w->dubbo->Close(); });
  }
  threads_->Stop();
  workers_.clear();
}

}  // namespace meshq::agent
