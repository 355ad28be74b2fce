// MetricsRegistry: families, their series, and the text exposition format 0.0.4.
#include "meshq/metrics_registry.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace meshq {
namespace {

[[noreturn]] void Misuse(std::string_view what, std::string_view name) {
  std::fprintf(stderr, "meshq metrics: %.*s: %.*s\n", static_cast<int>(name.size()), name.data(),
               static_cast<int>(what.size()), what.data());
  std::abort();
}

bool ValidName(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

void CheckName(MetricType type, std::string_view name) {
  if (!ValidName(name, /*allow_colon=*/true)) Misuse("not a valid metric name", name);
  if (type == MetricType::kCounter && !name.ends_with("_total")) {
    Misuse("a counter's name ends in _total", name);
  }
}

void CheckLabels(MetricType type, std::string_view name, const MetricLabels& labels) {
  for (const auto& [label, value] : labels) {
    if (!ValidName(label, /*allow_colon=*/false) || label.starts_with("__")) {
      Misuse("not a valid label name: " + label, name);
    }
    if (type == MetricType::kHistogram && label == "le") Misuse("a histogram's label le", name);
  }
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"}` with `extra` (a histogram's le) last; "" when there are no labels at all.
std::string LabelText(const MetricLabels& labels, std::string_view extra = {}) {
  if (labels.empty() && extra.empty()) return "";
  std::string out = "{";
  for (const auto& [name, value] : labels) {
    if (out.size() > 1) out += ',';
    out += name;
    out += "=\"";
    out += EscapeLabelValue(value);
    out += '"';
  }
  if (!extra.empty()) {
    if (out.size() > 1) out += ',';
    out += extra;
  }
  out += '}';
  return out;
}

// Backslash and newline escaped, and with `quotes` the double quote.
std::string Escape(std::string_view text, bool quotes) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\' || (quotes && c == '"')) {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void AppendSample(std::string* out, std::string_view name, std::string_view labels, double value) {
  out->append(name);
  out->append(labels);
  out->push_back(' ');
  out->append(FormatMetricValue(value));
  out->push_back('\n');
}

}  // namespace

struct MetricsRegistry::Series {
  MetricLabels labels;
  std::string label_text;
  SeriesSource source;
};

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  MetricType type;
  std::vector<std::unique_ptr<Series>> series;
  std::function<void(std::vector<MetricSample>*)> collect;  // a callback family
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

void MetricsRegistry::AddSeries(MetricType type, std::string_view name, std::string_view help,
                                MetricLabels labels, SeriesSource source) {
  CheckName(type, name);
  CheckLabels(type, name, labels);
  std::lock_guard lock(mu_);
  Family* family = nullptr;
  for (auto& f : families_) {
    if (f->name == name) family = f.get();
  }
  if (family == nullptr) {
    families_.push_back(std::make_unique<Family>());
    family = families_.back().get();
    family->name = std::string(name);
    family->help = std::string(help);
    family->type = type;
  } else if (family->type != type || family->collect) {
    Misuse("added again with another type", name);
  }
  auto series = std::make_unique<Series>();
  series->label_text = LabelText(labels);
  for (const auto& other : family->series) {
    if (other->label_text == series->label_text) Misuse("series added twice", name);
  }
  series->labels = std::move(labels);
  series->source = std::move(source);
  family->series.push_back(std::move(series));
}

Counter* MetricsRegistry::AddCounter(std::string_view name, std::string_view help,
                                     MetricLabels labels) {
  auto counter = std::make_unique<Counter>();
  Counter* c = counter.get();
  AddSeries(MetricType::kCounter, name, help, std::move(labels), std::move(counter));
  return c;
}

Gauge* MetricsRegistry::AddGauge(std::string_view name, std::string_view help,
                                 MetricLabels labels) {
  auto gauge = std::make_unique<Gauge>();
  Gauge* g = gauge.get();
  AddSeries(MetricType::kGauge, name, help, std::move(labels), std::move(gauge));
  return g;
}

Histogram* MetricsRegistry::AddHistogram(std::string_view name, std::string_view help,
                                         HistogramBuckets buckets, MetricLabels labels) {
  auto histogram = std::make_unique<Histogram>(std::move(buckets));
  Histogram* h = histogram.get();
  AddSeries(MetricType::kHistogram, name, help, std::move(labels), std::move(histogram));
  return h;
}

void MetricsRegistry::AddCallbackCounter(std::string_view name, std::string_view help,
                                         std::function<double()> read, MetricLabels labels) {
  AddSeries(MetricType::kCounter, name, help, std::move(labels), std::move(read));
}

void MetricsRegistry::AddCallbackGauge(std::string_view name, std::string_view help,
                                       std::function<double()> read, MetricLabels labels) {
  AddSeries(MetricType::kGauge, name, help, std::move(labels), std::move(read));
}

void MetricsRegistry::AddCallbackFamily(MetricType type, std::string_view name,
                                        std::string_view help,
                                        std::function<void(std::vector<MetricSample>*)> collect) {
  if (type == MetricType::kHistogram) Misuse("a callback family is a counter or gauge", name);
  CheckName(type, name);
  std::lock_guard lock(mu_);
  for (auto& f : families_) {
    if (f->name == name) Misuse("a callback family's name is taken", name);
  }
  families_.push_back(std::make_unique<Family>());
  Family& f = *families_.back();
  f.name = std::string(name);
  f.help = std::string(help);
  f.type = type;
  f.collect = std::move(collect);
}

void MetricsRegistry::AddScrapeHook(std::function<void()> hook) {
  std::lock_guard lock(mu_);
  hooks_.push_back(std::move(hook));
}

std::string MetricsRegistry::Render() {
  std::lock_guard lock(mu_);
  for (auto& hook : hooks_) hook();
  std::string out;
  std::vector<MetricSample> samples;
  for (const auto& f : families_) {
    out += "# HELP " + f->name + ' ' + EscapeHelp(f->help) + '\n';
    out += "# TYPE " + f->name + ' ' + TypeName(f->type) + '\n';
    if (f->collect) {
      samples.clear();
      f->collect(&samples);
      for (const MetricSample& s : samples) {
        CheckLabels(f->type, f->name, s.labels);
        AppendSample(&out, f->name, LabelText(s.labels), s.value);
      }
      continue;
    }
    for (const auto& s : f->series) {
      if (auto* c = std::get_if<std::unique_ptr<Counter>>(&s->source)) {
        AppendSample(&out, f->name, s->label_text, static_cast<double>((*c)->Value()));
      } else if (auto* g = std::get_if<std::unique_ptr<Gauge>>(&s->source)) {
        AppendSample(&out, f->name, s->label_text, static_cast<double>((*g)->Value()));
      } else if (auto* read = std::get_if<std::function<double()>>(&s->source)) {
        AppendSample(&out, f->name, s->label_text, (*read)());
      } else if (auto* h = std::get_if<std::unique_ptr<Histogram>>(&s->source)) {
        const Histogram::Snapshot snap = (*h)->Read();
        const std::vector<double>& bounds = (*h)->buckets().bounds;
        uint64_t cumulative = 0;
        for (size_t b = 0; b < snap.counts.size(); ++b) {
          cumulative += snap.counts[b];
          const std::string le = b < bounds.size() ? FormatMetricValue(bounds[b]) : "+Inf";
          AppendSample(&out, f->name + "_bucket", LabelText(s->labels, "le=\"" + le + "\""),
                       static_cast<double>(cumulative));
        }
        AppendSample(&out, f->name + "_sum", s->label_text, snap.sum);
        AppendSample(&out, f->name + "_count", s->label_text, static_cast<double>(snap.count));
      }
    }
  }
  return out;
}

std::string EscapeLabelValue(std::string_view value) { return Escape(value, /*quotes=*/true); }

std::string EscapeHelp(std::string_view help) { return Escape(help, /*quotes=*/false); }

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Counts up to 2^53 are exact in a double: print them as integers.
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {
    return std::to_string(static_cast<int64_t>(value));
  }
  char buf[32];
  // Shortest round-trip text, in fixed notation for moderate exponents ("0.0005", not "5e-04").
  const auto r = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::general);
  return std::string(buf, r.ptr);
}

}  // namespace meshq
