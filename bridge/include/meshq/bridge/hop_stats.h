// Hop stats: how long RPC messages spend between the two agents through the broker, per hop, for
// this process. The envelope carries the sender's wall-clock stamp (RpcRequest::sent_us,
// RpcReply::replied_us); the receiving side records now - stamp:
//   request hop: RpcClient::Call stamped it -> an RpcServer hands it to its handler
//                (PUT to the broker, stored, delivered to a parked GROUP_FETCH, decoded);
//   reply hop:   RpcServer stamped the reply -> the RpcClient completes the call.
// Only first attempts count (a resent request keeps its first send's stamp), and only replies
// delivered through the client's reply queue (a stored reply handed to a request already settled
// carries its first answer's stamp). Between hosts the figures include the clocks' offset.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "meshq/latency_histogram.h"
#include "meshq/metrics.h"

namespace meshq::bridge {

// Microsecond latencies recorded from any thread; Take() snapshots them from any other. Each
// sample also goes to the Prometheus histogram given to Export (an agent's /metrics), so the
// SIGUSR1 lines and /metrics count the same events. Recording touches only the calling thread's
// cells (the metrics library's shards): no cache line shared between io threads per call.
class HopHistogram {
 public:
  HopHistogram() : cells_(LatencyHistogram::kBuckets), taken_(LatencyHistogram::kBuckets, 0) {}

  void Record(uint64_t micros) {
    cells_.Add(LatencyHistogram::BucketOf(micros), 1);
    if (Histogram* h = exported_.load(std::memory_order_acquire)) h->Observe(micros * 1000);
  }
  // From now on samples are also observed (in nanoseconds) by `h` (a Latency() histogram that
  // outlives every Record), or no longer when null.
  void Export(Histogram* h) { exported_.store(h, std::memory_order_release); }
  // The samples recorded since the previous Take (or the start), which starts a new period.
  LatencyHistogram Take();

 private:
  metrics_internal::ShardedCells cells_;
  std::mutex take_mu_;
  std::vector<uint64_t> taken_;  // each bucket's sum at the previous Take; guarded by take_mu_
  std::atomic<Histogram*> exported_{nullptr};
};

struct ProcessHopStats {
  HopHistogram request;  // recorded by this process's RpcServers
  HopHistogram reply;    // recorded by this process's RpcClients
};

// The process's hop stats (every RpcClient and RpcServer in it records here).
ProcessHopStats& HopStats();

// One line: "hop <name> count=N p50_us=A p90_us=B p99_us=C p999_us=D buckets=U:N,U:N,...",
// percentiles as bucket upper bounds (within ~6%), then every non-empty bucket as its upper bound
// and count, so lines from several processes can be merged.
std::string FormatHop(std::string_view name, const LatencyHistogram& h);

}  // namespace meshq::bridge
