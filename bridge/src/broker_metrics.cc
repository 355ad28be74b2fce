// BrokerMetrics: names, help and labels of the broker's metrics (listed in docs/metrics.md).
#include "broker_metrics.h"

#include <cctype>
#include <string>

#include "meshq/bridge/frame.h"

namespace meshq::bridge {
namespace {

// Label values of the frame types, by slot (see BrokerMetrics::RequestSlot / ResponseSlot);
// nullptr: the slot shares the "other" series.
constexpr const char* kRequestNames[] = {"other",       "put", "get",  "fetch",
                                         "group_fetch", "ack", "ping", nullptr};
constexpr const char* kResponseNames[] = {"other", nullptr,     "messages", nullptr,
                                          nullptr, "ack_reply", "pong",     "error"};
// Slot 1 of the responses is PUT_REPLY (named apart: "put" would read as a request).
constexpr const char* kPutReply = "put_reply";

}  // namespace

BrokerMetrics::BrokerMetrics(MetricsRegistry* registry) : registry_(registry) {
  MetricsRegistry& r = *registry;
  for (size_t i = 0; i < kSlots; ++i) {
    const char* name = kRequestNames[i];
    if (name == nullptr) {
      received_[i] = received_[0];
      continue;
    }
    received_[i].frames =
        r.AddCounter("meshq_broker_frames_received_total",
                     "Frames read from clients, by frame type.", {{"type", name}});
    received_[i].bytes =
        r.AddCounter("meshq_broker_received_bytes_total",
                     "Bytes of the frames read from clients (headers included), by frame type.",
                     {{"type", name}});
  }
  for (size_t i = 0; i < kSlots; ++i) {
    const char* name = i == 1 ? kPutReply : kResponseNames[i];
    if (name == nullptr) {
      sent_[i] = sent_[0];
      continue;
    }
    sent_[i].frames = r.AddCounter("meshq_broker_frames_sent_total",
                                   "Frames queued for clients, by frame type.", {{"type", name}});
    sent_[i].bytes =
        r.AddCounter("meshq_broker_sent_bytes_total",
                     "Bytes of the frames queued for clients (headers included), by frame type.",
                     {{"type", name}});
  }

  const char* kErrorsHelp =
      "ERROR frames sent, by status (a meshq Status code, no_consumers or bad_frame).";
  Counter* other = r.AddCounter("meshq_broker_errors_total", kErrorsHelp, {{"status", "other"}});
  errors_.fill(other);
  for (uint8_t code = 1; code <= static_cast<uint8_t>(Status::Code::kPermissionDenied); ++code) {
    std::string label = Status::CodeName(static_cast<Status::Code>(code));
    for (char& c : label) c = c == ' ' ? '_' : static_cast<char>(std::tolower(c));
    errors_[code] = r.AddCounter("meshq_broker_errors_total", kErrorsHelp, {{"status", label}});
  }
  errors_[kStatusNoConsumers] =
      r.AddCounter("meshq_broker_errors_total", kErrorsHelp, {{"status", "no_consumers"}});
  errors_[kStatusBadFrame] =
      r.AddCounter("meshq_broker_errors_total", kErrorsHelp, {{"status", "bad_frame"}});

  const char* kRequestHelp =
      "Time from a request's arrival to its answer being queued (a PUT with FLUSH or WRITTEN "
      "includes its group commit; a parked long-poll is in meshq_broker_fetch_wait_seconds "
      "instead), by op.";
  for (FrameType type : {FrameType::kPut, FrameType::kGet, FrameType::kFetch,
                         FrameType::kGroupFetch, FrameType::kAck}) {
    request_[RequestSlot(type)] =
        r.AddHistogram("meshq_broker_request_duration_seconds", kRequestHelp,
                       HistogramBuckets::Latency(), {{"op", kRequestNames[RequestSlot(type)]}});
  }
  for (FrameType type : {FrameType::kFetch, FrameType::kGroupFetch}) {
    fetch_wait_[RequestSlot(type)] = r.AddHistogram(
        "meshq_broker_fetch_wait_seconds",
        "How long a long-poll was parked before it was answered (messages or its wait ended).",
        HistogramBuckets::Latency(), {{"op", kRequestNames[RequestSlot(type)]}});
  }
  const char* kFlushHelp =
      "Duration of the store's Flush in a group commit, by mode (sync: fdatasync'ed; write: "
      "written to the OS).";
  flush_[0] = r.AddHistogram("meshq_broker_flush_duration_seconds", kFlushHelp,
                             HistogramBuckets::Latency(), {{"mode", "sync"}});
  flush_[1] = r.AddHistogram("meshq_broker_flush_duration_seconds", kFlushHelp,
                             HistogramBuckets::Latency(), {{"mode", "write"}});
  commit_round_requests_ = r.AddHistogram(
      "meshq_broker_commit_round_requests",
      "Acknowledgements (PUT FLUSH/WRITTEN, ACK SYNC) one group commit answered together.",
      HistogramBuckets::Sizes());
  commit_round_seconds_ =
      r.AddHistogram("meshq_broker_commit_round_duration_seconds",
                     "Duration of a group commit (its Flush and the offsets it writes).",
                     HistogramBuckets::Latency());

  connections_ = r.AddGauge("meshq_broker_connections", "Client connections open.");
  accepted_ = r.AddCounter("meshq_broker_connections_accepted_total",
                           "Client connections accepted (refused ones not included).");
  const char* kRefusedHelp =
      "Operations refused by a limit or by the security rules, by reason (see "
      "docs/broker-protocol.md, Limits, and docs/SECURITY.md).";
  refused_dedupe_full_ =
      r.AddCounter("meshq_broker_refused_total", kRefusedHelp, {{"reason", "dedupe_window_full"}});
  refused_acl_ = r.AddCounter("meshq_broker_refused_total", kRefusedHelp, {{"reason", "acl"}});
  refused_unbound_reply_ =
      r.AddCounter("meshq_broker_refused_total", kRefusedHelp, {{"reason", "unbound_reply"}});
  parked_fetches_ = r.AddGauge("meshq_broker_parked_fetches",
                               "FETCH and GROUP_FETCH long-polls waiting for messages now.");
}

void BrokerMetrics::AddStoreMetrics(QueueStore* store) {
  MetricsRegistry& r = *registry_;
  r.AddScrapeHook([this, store] { stats_ = store->GetStats(); });
  auto gauge = [&](const char* name, const char* help, uint64_t StoreStats::*field,
                   MetricLabels labels = {}) {
    r.AddCallbackGauge(
        name, help, [this, field] { return static_cast<double>(stats_.*field); },
        std::move(labels));
  };
  auto counter = [&](const char* name, const char* help, uint64_t StoreStats::*field) {
    r.AddCallbackCounter(name, help, [this, field] { return static_cast<double>(stats_.*field); });
  };
  gauge("meshq_store_queues", "Queues in the store.", &StoreStats::queues);
  gauge("meshq_store_messages", "Messages in the store's queues.", &StoreStats::messages);
  gauge("meshq_store_blocks", "Sealed blocks in the store's block lists.", &StoreStats::blocks);
  gauge("meshq_store_live_bytes", "Bytes of the written blocks the index still references.",
        &StoreStats::live_bytes);
  gauge("meshq_store_allocated_bytes",
        "Disk space the segment files take (allocated blocks; punched holes not counted).",
        &StoreStats::allocated_bytes);
  gauge("meshq_store_segment_bytes", "Logical size of the segment files (holes included).",
        &StoreStats::segment_bytes);
  gauge("meshq_store_trimmed_messages", "Messages below the queues' starts (trimmed).",
        &StoreStats::trimmed_messages);
  counter("meshq_store_released_blocks_total",
          "Blocks whose space was released (trimmed or discarded) since the store opened.",
          &StoreStats::released_blocks);
  counter("meshq_store_punched_bytes_total",
          "Bytes the file system punched out of the segment files since the store opened.",
          &StoreStats::punched_bytes);
  counter("meshq_store_unpunched_bytes_total",
          "Bytes of released blocks the file system refused to punch since the store opened.",
          &StoreStats::unpunched_bytes);
  const char* kMemoryHelp = "Memory the store holds, by what for.";
  gauge("meshq_store_memory_bytes", kMemoryHelp, &StoreStats::open_block_bytes,
        {{"kind", "open_blocks"}});
  gauge("meshq_store_memory_bytes", kMemoryHelp, &StoreStats::index_bytes, {{"kind", "index"}});
  gauge("meshq_store_memory_bytes", kMemoryHelp, &StoreStats::read_cache_bytes,
        {{"kind", "read_cache"}});
  gauge("meshq_store_pending_write_bytes",
        "Bytes staged for the flusher threads and not yet written (the write backlog).",
        &StoreStats::pending_write_bytes);
  gauge("meshq_store_recovered_blocks",
        "Blocks the last Open adopted from its scan past the checkpoint.",
        &StoreStats::recovered_blocks);
  gauge("meshq_store_discarded_blocks", "Valid blocks the last Open's scan could not adopt.",
        &StoreStats::discarded_blocks);
  counter("meshq_store_puts_total", "Messages the store took (Put) since it opened.",
          &StoreStats::puts);
  counter("meshq_store_gets_total", "Get calls on the store since it opened.", &StoreStats::gets);
  counter("meshq_store_blocks_sealed_total", "Blocks sealed for writing since the store opened.",
          &StoreStats::blocks_sealed);
  counter("meshq_store_written_bytes_total",
          "Bytes written to the segment files since the store opened.", &StoreStats::bytes_written);
  counter("meshq_store_read_cache_hits_total",
          "Sealed blocks a Get took from the read cache since the store opened.",
          &StoreStats::read_cache_hits);
  counter("meshq_store_read_cache_misses_total",
          "Sealed blocks a Get read from staging memory or the file since the store opened.",
          &StoreStats::read_cache_misses);
}

}  // namespace meshq::bridge
