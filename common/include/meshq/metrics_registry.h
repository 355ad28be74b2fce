// MetricsRegistry: the named metrics of one server and their Prometheus text exposition
// (format 0.0.4). A family is a name with its help and type; its series differ by labels.
//
// Usage:
//   meshq::MetricsRegistry registry;
//   Counter* in = registry.AddCounter("meshq_broker_frames_received_total", "Frames read.",
//                                     {{"type", "put"}});
//   registry.AddCallbackGauge("meshq_broker_queues", "Queues in the store.",
//                             [&] { return double(stats.queues); });
//   registry.AddScrapeHook([&] { stats = store->GetStats(); });  // once per scrape, first
//   registry.AddCallbackFamily(MetricType::kGauge, "meshq_agent_endpoint_in_flight", "...",
//       [&](std::vector<meshq::MetricSample>* out) { out->push_back({{{"endpoint", a}}, 3}); });
//   std::string text = registry.Render();   // what GET /metrics answers (meshq/metrics_server.h)
//
// Names follow Prometheus conventions: a meshq_ prefix, base units (_seconds, _bytes), counters
// end in _total. A bad name, a label named "le" on a histogram, a family added again with another
// type, or a series added twice is a programming error: the process aborts with a message.
// Every call is thread-safe; the Add* calls return metrics (or take callbacks) that stay valid
// (are called) until the registry is destroyed. Callbacks and hooks run on the thread calling
// Render, one Render at a time.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "meshq/metrics.h"

namespace meshq {

enum class MetricType { kCounter, kGauge, kHistogram };

// Label names and values of one series, in the order they are printed.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// One series' value, produced by a callback family at scrape time.
struct MetricSample {
  MetricLabels labels;
  double value = 0;
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Counter* AddCounter(std::string_view name, std::string_view help, MetricLabels labels = {});
  Gauge* AddGauge(std::string_view name, std::string_view help, MetricLabels labels = {});
  Histogram* AddHistogram(std::string_view name, std::string_view help, HistogramBuckets buckets,
                          MetricLabels labels = {});
  // A series whose value `read` returns at each scrape (a counter's must never decrease).
  void AddCallbackCounter(std::string_view name, std::string_view help,
                          std::function<double()> read, MetricLabels labels = {});
  void AddCallbackGauge(std::string_view name, std::string_view help, std::function<double()> read,
                        MetricLabels labels = {});
  // A family whose series `collect` lists at each scrape (labels that come and go: endpoints).
  // `type` is kCounter or kGauge.
  void AddCallbackFamily(MetricType type, std::string_view name, std::string_view help,
                         std::function<void(std::vector<MetricSample>*)> collect);
  // Runs at the start of every Render, before any callback, in the order added: where one
  // snapshot (a store's GetStats) is taken for the callbacks that read it.
  void AddScrapeHook(std::function<void()> hook);

  // Every family, in the order first added, as text exposition format 0.0.4.
  std::string Render();

  // The Content-Type of Render's text.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Series;
  struct Family;
  using SeriesSource = std::variant<std::unique_ptr<Counter>, std::unique_ptr<Gauge>,
                                    std::unique_ptr<Histogram>, std::function<double()>>;
  void AddSeries(MetricType type, std::string_view name, std::string_view help, MetricLabels labels,
                 SeriesSource source);

  std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
  std::vector<std::function<void()>> hooks_;
};

// Text exposition escaping: a label value ('\\', '"' and newline escaped) and a HELP text ('\\'
// and newline escaped).
std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);
// A sample value as exposition text: integers exactly, "NaN", "+Inf", "-Inf", else the shortest
// text that reads back as the same double.
std::string FormatMetricValue(double value);

}  // namespace meshq
