// TopView: series grouped by family type, rates and quantiles from two scrapes, and the layout.
#include "top_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

namespace meshq::cli {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "name{k=v,...}" without the labels named `skip`.
std::string SeriesName(std::string_view name, const ScrapedSample& s, std::string_view skip = {}) {
  std::string out(name);
  bool first = true;
  for (const auto& [k, v] : s.labels) {
    if (k == skip) continue;
    out += first ? "{" : ",";
    first = false;
    out += k + "=" + v;
  }
  if (!first) out += "}";
  return out;
}

enum class Family { kCounter, kGauge, kHistogramBucket, kHistogramOther };

Family FamilyOf(const ScrapedMetrics& m, const std::string& name) {
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (!EndsWith(name, suffix)) continue;
    auto it = m.types.find(name.substr(0, name.size() - suffix.size()));
    if (it != m.types.end() && it->second == "histogram") {
      return suffix == "_bucket" ? Family::kHistogramBucket : Family::kHistogramOther;
    }
  }
  auto it = m.types.find(name);
  if (it != m.types.end()) {
    if (it->second == "counter") return Family::kCounter;
    if (it->second == "gauge") return Family::kGauge;
  }
  return EndsWith(name, "_total") ? Family::kCounter : Family::kGauge;
}

double ParseLe(std::string_view le) {
  if (le == "+Inf") return std::numeric_limits<double>::infinity();
  try {
    return std::stod(std::string(le));
  } catch (...) {
    return kNaN;
  }
}

// Histogram series by name{labels without le}: upper bound -> cumulative count.
using Histograms = std::map<std::string, std::map<double, double>>;

struct Indexed {
  std::map<std::string, double> counters;
  Histograms histograms;
};

Indexed Index(const ScrapedMetrics& m) {
  Indexed out;
  for (const ScrapedSample& s : m.samples) {
    switch (FamilyOf(m, s.name)) {
      case Family::kCounter:
        out.counters[SeriesName(s.name, s)] = s.value;
        break;
      case Family::kHistogramBucket: {
        const double le = ParseLe(s.Label("le"));
        if (std::isnan(le)) break;
        out.histograms[SeriesName(s.name.substr(0, s.name.size() - 7), s, "le")][le] = s.value;
        break;
      }
      default:
        break;
    }
  }
  return out;
}

std::string Pad(std::string s, size_t width, bool right) {
  if (s.size() >= width) return s;
  const std::string fill(width - s.size(), ' ');
  return right ? fill + s : s + fill;
}

}  // namespace

double HistogramQuantile(double q, const std::vector<std::pair<double, double>>& cumulative) {
  if (cumulative.empty()) return kNaN;
  const double total = cumulative.back().second;
  if (!(total > 0)) return kNaN;
  const double rank = q * total;
  double lower_bound = 0, lower_count = 0;
  for (const auto& [upper, count] : cumulative) {
    if (count >= rank && count > lower_count) {
      if (std::isinf(upper)) return lower_bound;  // beyond the last finite bound
      return lower_bound + (upper - lower_bound) * (rank - lower_count) / (count - lower_count);
    }
    lower_bound = upper;
    lower_count = count;
  }
  return lower_bound;
}

std::vector<TopRow> ComputeTopRows(const ScrapedMetrics* previous, const ScrapedMetrics& current,
                                   double seconds) {
  const Indexed now = Index(current);
  const Indexed before = previous ? Index(*previous) : Indexed();
  const bool rates = previous != nullptr && seconds > 0;
  std::vector<TopRow> counters, latencies, gauges;
  std::map<std::string, bool> histogram_done;
  for (const ScrapedSample& s : current.samples) {
    const Family family = FamilyOf(current, s.name);
    if (family == Family::kCounter) {
      if (s.value == 0) continue;  // never happened: noise on the screen
      TopRow row{TopRow::Kind::kRate, SeriesName(s.name, s)};
      auto it = before.counters.find(row.series);
      double delta = s.value - (it == before.counters.end() ? 0 : it->second);
      if (delta < 0) delta = s.value;  // the server restarted
      row.rate = rates ? delta / seconds : kNaN;
      counters.push_back(row);
    } else if (family == Family::kGauge) {
      TopRow row{TopRow::Kind::kGauge, SeriesName(s.name, s)};
      row.value = s.value;
      gauges.push_back(row);
    } else if (family == Family::kHistogramBucket) {
      const std::string series = SeriesName(s.name.substr(0, s.name.size() - 7), s, "le");
      if (histogram_done[series]) continue;
      histogram_done[series] = true;
      const auto& buckets = now.histograms.at(series);
      if (buckets.empty() || buckets.rbegin()->second == 0) continue;
      auto old = before.histograms.find(series);
      std::vector<std::pair<double, double>> delta;
      bool reset = false;
      for (const auto& [le, count] : buckets) {
        double was = 0;
        if (old != before.histograms.end()) {
          auto b = old->second.find(le);
          if (b != old->second.end()) was = b->second;
        }
        if (count < was) reset = true;
        delta.emplace_back(le, count - was);
      }
      if (reset) {
        delta.clear();
        for (const auto& [le, count] : buckets) delta.emplace_back(le, count);
      }
      TopRow row{TopRow::Kind::kLatency, series};
      row.rate = rates ? delta.back().second / seconds : kNaN;
      row.p50 = HistogramQuantile(0.5, delta);
      row.p99 = HistogramQuantile(0.99, delta);
      latencies.push_back(row);
    }
  }
  std::vector<TopRow> rows = std::move(counters);
  rows.insert(rows.end(), latencies.begin(), latencies.end());
  rows.insert(rows.end(), gauges.begin(), gauges.end());
  return rows;
}

std::string FormatRate(double v) {
  if (std::isnan(v)) return "-";
  char buf[32];
  if (v >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  } else if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  } else if (v >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  } else if (v >= 100 || v == 0) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f", v);
  }
  return buf;
}

std::string FormatSeconds(double s) {
  if (std::isnan(s)) return "-";
  char buf[32];
  if (s < 1e-3) {
    std::snprintf(buf, sizeof buf, "%.0fus", s * 1e6);
  } else if (s < 1) {
    std::snprintf(buf, sizeof buf, "%.1fms", s * 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.2fs", s);
  }
  return buf;
}

std::string FormatGauge(double v) {
  if (std::isnan(v)) return "NaN";
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  }
  return buf;
}

std::vector<std::string> RenderTop(const std::vector<TopEndpoint>& endpoints,
                                   const std::string& header, size_t width) {
  std::vector<std::string> lines = {header};
  size_t name_width = 24;
  for (const TopEndpoint& e : endpoints) {
    for (const TopRow& r : e.rows) name_width = std::max(name_width, r.series.size());
  }
  name_width = std::min<size_t>(name_width, 72);
  auto name = [&](const std::string& s) {
    return "    " +
           Pad(s.size() > name_width ? s.substr(0, name_width - 1) + "~" : s, name_width, false);
  };
  for (const TopEndpoint& e : endpoints) {
    lines.push_back("");
    if (!e.up) {
      lines.push_back(e.address + "  DOWN  " + e.error);
      continue;
    }
    lines.push_back(e.address + "  up");
    TopRow::Kind section = TopRow::Kind::kGauge;
    bool first = true;
    for (const TopRow& r : e.rows) {
      if (first || r.kind != section) {
        first = false;
        section = r.kind;
        switch (r.kind) {
          case TopRow::Kind::kRate:
            lines.push_back("  " + Pad("RATES", name_width + 2, false) + Pad("/s", 10, true));
            break;
          case TopRow::Kind::kLatency:
            lines.push_back("  " + Pad("LATENCIES", name_width + 2, false) + Pad("/s", 10, true) +
                            Pad("p50", 10, true) + Pad("p99", 10, true));
            break;
          case TopRow::Kind::kGauge:
            lines.push_back("  " + Pad("GAUGES", name_width + 2, false) + Pad("now", 10, true));
            break;
        }
      }
      std::string line = name(r.series);
      switch (r.kind) {
        case TopRow::Kind::kRate:
          line += Pad(FormatRate(r.rate), 10, true);
          break;
        case TopRow::Kind::kLatency: {
          // Histograms in seconds read as durations; others (sizes) as plain numbers.
          const bool duration = r.series.find("_seconds") != std::string::npos;
          auto q = [duration](double v) { return duration ? FormatSeconds(v) : FormatGauge(v); };
          line +=
              Pad(FormatRate(r.rate), 10, true) + Pad(q(r.p50), 10, true) + Pad(q(r.p99), 10, true);
          break;
        }
        case TopRow::Kind::kGauge:
          line += Pad(FormatGauge(r.value), 10, true);
          break;
      }
      lines.push_back(line);
    }
    if (e.rows.empty()) lines.push_back("  (no metrics)");
  }
  if (width > 0) {
    for (std::string& l : lines) {
      if (l.size() > width) l.resize(width);
    }
  }
  return lines;
}

}  // namespace meshq::cli
