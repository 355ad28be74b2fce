// ServiceRegistration / ServiceWatcher: each runs one background thread with blocking etcd calls;
// registry traffic is a few requests per second at most, so it stays off the data-path threads.
#include "registry.h"

#include "meshq/agent/agent_metrics.h"
#include "meshq/log.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace meshq::agent {

using namespace std::chrono_literals;

ServiceRegistration::ServiceRegistration(std::string etcd_endpoint, std::string key,
                                         std::string value, int ttl_seconds, AgentMetrics* metrics,
                                         const RegistryAccess& access)
    : etcd_(etcd_endpoint, access),
      key_(std::move(key)),
      value_(std::move(value)),
      ttl_seconds_(std::max(1, ttl_seconds)),
      metrics_(metrics) {}

ServiceRegistration::~ServiceRegistration() { Stop(); }

Status ServiceRegistration::Register() {
  int64_t lease = 0;
  Status s = etcd_.GrantLease(ttl_seconds_, &lease);
  if (s.ok()) s = etcd_.Put(key_, value_, lease);
  if (s.ok()) lease_id_ = lease;
  return s;
}

Status ServiceRegistration::Start() {
  Status s = Register();
  if (s.ok()) thread_ = std::thread([this] { KeepAliveLoop(); });
  if (metrics_) metrics_->Registered(s.ok());
  return s;
}

void ServiceRegistration::KeepAliveLoop() {
  // Refresh at a third of the TTL so one lost refresh does not expire the lease.
  const auto period = std::chrono::milliseconds(ttl_seconds_ * 1000 / 3);
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, period, [this] { return stopping_; })) {
    lock.unlock();
    int64_t ttl_left = 0;
    Status s = etcd_.KeepAliveOnce(lease_id_, &ttl_left);
    if (s.ok() && ttl_left <= 0) s = Register();  // the lease expired: register afresh
    if (metrics_) {
      if (!s.ok()) metrics_->LeaseRefreshFailed();
      metrics_->Registered(s.ok());
    }
    if (!s.ok()) {
      LogEvent(LogLevel::kWarn, "registry", "lease refresh failed").Field("key", key_).Error(s);
    }
    lock.lock();
  }
}

void ServiceRegistration::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (lease_id_ != 0) {
    Status s = etcd_.RevokeLease(lease_id_);
    if (!s.ok()) {
      LogEvent(LogLevel::kWarn, "registry", "deregister failed").Field("key", key_).Error(s);
      if (metrics_) metrics_->LeaseRefreshFailed();
    }
  }
  if (metrics_) metrics_->Registered(false);
  lease_id_ = 0;
}

ServiceWatcher::ServiceWatcher(std::string etcd_endpoint, std::string prefix, Listener on_change,
                               AgentMetrics* metrics, const RegistryAccess& access)
    : etcd_endpoint_(std::move(etcd_endpoint)),
      access_(access),
      prefix_(std::move(prefix)),
      on_change_(std::move(on_change)),
      metrics_(metrics) {}

ServiceWatcher::~ServiceWatcher() { Stop(); }

void ServiceWatcher::Start() {
  watch_client_ = std::make_unique<EtcdClient>(etcd_endpoint_, access_);
  thread_ = std::thread([this] { Run(); });
}

void ServiceWatcher::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (watch_client_) watch_client_->Cancel();
  if (thread_.joinable()) thread_.join();
}

void ServiceWatcher::Publish() {
  std::vector<ProviderEndpoint> all;
  all.reserve(endpoints_.size());
  for (const auto& [key, ep] : endpoints_) all.push_back(ep);
  on_change_(all);
}

void ServiceWatcher::Run() {
  auto stopping = [this] {
    std::lock_guard lock(mu_);
    return stopping_;
  };
  while (!stopping()) {
    // Snapshot, then stream every change after the snapshot's revision: nothing is missed.
    std::vector<EtcdKeyValue> kvs;
    int64_t revision = 0;
    EtcdClient range_client(etcd_endpoint_, access_);
    Status s = range_client.RangePrefix(prefix_, &kvs, &revision);
    if (s.ok()) {
      endpoints_.clear();
      for (const EtcdKeyValue& kv : kvs) {
        ProviderEndpoint ep;
        if (ProviderEndpoint::FromRegistryValue(kv.key, kv.value, &ep)) endpoints_[kv.key] = ep;
      }
      Publish();
      if (metrics_) metrics_->WatchState(true);
      auto on_events = [this](const std::vector<EtcdEvent>& events) {
        for (const EtcdEvent& ev : events) {
          ProviderEndpoint ep;
          if (ev.type == EtcdEvent::Type::kDelete) {
            endpoints_.erase(ev.kv.key);
          } else if (ProviderEndpoint::FromRegistryValue(ev.kv.key, ev.kv.value, &ep)) {
            endpoints_[ev.kv.key] = ep;
          }
        }
        Publish();
      };
      s = watch_client_->WatchPrefix(prefix_, revision + 1, on_events);
      if (s.ok()) return;
    }
    if (stopping()) return;
    if (metrics_) metrics_->WatchState(false);
    LogEvent(LogLevel::kWarn, "registry", "watch failed, retrying")
        .Field("prefix", prefix_)
        .Error(s);
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 500ms, [this] { return stopping_; });
  }
}

}  // namespace meshq::agent
