// BrokerMetrics: the broker's own metrics (docs/metrics.md), registered in one registry and
// updated on the data path without locks (meshq/metrics.h). The store's figures and the limits'
// counts are read at scrape time by callbacks (broker.cc).
#pragma once

#include <array>
#include <cstdint>

#include "meshq/bridge/frame.h"
#include "meshq/metrics_registry.h"
#include "meshq/queue_store.h"
#include "meshq/status.h"

namespace meshq::bridge {

class BrokerMetrics {
 public:
  explicit BrokerMetrics(MetricsRegistry* registry);

  MetricsRegistry& registry() { return *registry_; }

  // The store's figures (meshq_store_*), from one GetStats per scrape (it walks every queue).
  // `store` must serve scrapes until the registry's server stops.
  void AddStoreMetrics(QueueStore* store);

  // A frame read (header included) and a frame queued for sending.
  void FrameReceived(FrameType type, size_t bytes) {
    const Traffic& t = received_[RequestSlot(type)];
    t.frames->Inc();
    t.bytes->Inc(bytes);
  }
  void FrameSent(FrameType type, size_t bytes) {
    const Traffic& t = sent_[ResponseSlot(type)];
    t.frames->Inc();
    t.bytes->Inc(bytes);
  }
  // An ERROR frame's status byte (a Status code or kStatusNoConsumers / kStatusBadFrame).
  void ErrorSent(uint8_t status) { errors_[status < errors_.size() ? status : 0]->Inc(); }
  // The time from a request frame's arrival to its answer being queued (not for a parked fetch),
  // for PUT, GET, FETCH, GROUP_FETCH and ACK (null for other types).
  Histogram* request_seconds(FrameType type) { return request_[RequestSlot(type)]; }
  // How long a FETCH or GROUP_FETCH was parked before it was answered (null for other types).
  Histogram* fetch_wait_seconds(FrameType type) { return fetch_wait_[RequestSlot(type)]; }

  Histogram* flush_seconds(FlushMode mode) { return flush_[mode == FlushMode::kSync ? 0 : 1]; }
  Histogram* commit_round_requests() { return commit_round_requests_; }
  Histogram* commit_round_seconds() { return commit_round_seconds_; }

  Gauge* connections() { return connections_; }
  Counter* connections_accepted() { return accepted_; }
  Counter* refused_dedupe_full() { return refused_dedupe_full_; }
  // Operations the ACL refused, and REPLY puts of requests not handed to their connection.
  Counter* refused_acl() { return refused_acl_; }
  Counter* refused_unbound_reply() { return refused_unbound_reply_; }
  // FETCH / GROUP_FETCH waits parked now, over all connections.
  Gauge* parked_fetches() { return parked_fetches_; }

 private:
  // Request types by their byte (1..6), anything else in slot 0; response types by their low
  // bits (1..6), ERROR in slot 7.
  static size_t RequestSlot(FrameType type) {
    const auto t = static_cast<uint8_t>(type);
    return t < kSlots ? t : 0;
  }
  static size_t ResponseSlot(FrameType type) {
    const auto t = static_cast<uint8_t>(type);
    return type == FrameType::kError ? kSlots - 1 : (t & 0x7f) < kSlots ? (t & 0x7f) : 0;
  }
  static constexpr size_t kSlots = 8;
  struct Traffic {
    Counter* frames = nullptr;
    Counter* bytes = nullptr;
  };

  MetricsRegistry* const registry_;
  std::array<Traffic, kSlots> received_{};
  std::array<Traffic, kSlots> sent_{};
  std::array<Counter*, 128> errors_{};  // by status byte; the unnamed ones share "other"
  std::array<Histogram*, kSlots> request_{};
  std::array<Histogram*, kSlots> fetch_wait_{};
  std::array<Histogram*, 2> flush_{};
  Histogram* commit_round_requests_;
  Histogram* commit_round_seconds_;
  Gauge* connections_;
  Counter* accepted_;
  Counter* refused_dedupe_full_;
  Counter* refused_acl_;
  Counter* refused_unbound_reply_;
  Gauge* parked_fetches_;
  // Read and written by scrapes only (one at a time).
  StoreStats stats_;
};

}  // namespace meshq::bridge
