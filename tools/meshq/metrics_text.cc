// ParseMetricsText: one line at a time; a sample line is name, optional {labels}, value,
// optional timestamp, separated by blanks.
#include "metrics_text.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace meshq::cli {

namespace {

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

void SkipBlanks(std::string_view line, size_t* pos) {
  while (*pos < line.size() && (line[*pos] == ' ' || line[*pos] == '\t')) ++*pos;
}

// A metric or label name at *pos; empty when there is none.
std::string_view TakeName(std::string_view line, size_t* pos) {
  const size_t start = *pos;
  if (*pos < line.size() && IsNameStart(line[*pos])) {
    while (*pos < line.size() && IsNameChar(line[*pos])) ++*pos;
  }
  return line.substr(start, *pos - start);
}

bool ParseValue(std::string_view text, double* out) {
  if (text == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (text == "+Inf" || text == "Inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (text == "-Inf") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

// The labels of a sample, *pos just past '{'; leaves *pos past '}'.
Status ParseLabels(std::string_view line, size_t* pos, ScrapedSample* sample) {
  for (;;) {
    SkipBlanks(line, pos);
    if (*pos < line.size() && line[*pos] == '}') {
      ++*pos;
      return Status::OK();
    }
    const std::string_view key = TakeName(line, pos);
    if (key.empty()) return Status::InvalidArgument("bad label name");
    SkipBlanks(line, pos);
    if (*pos >= line.size() || line[*pos] != '=') return Status::InvalidArgument("no '=' in label");
    ++*pos;
    SkipBlanks(line, pos);
    if (*pos >= line.size() || line[*pos] != '"') {
      return Status::InvalidArgument("label value not quoted");
    }
    ++*pos;
    std::string value;
    for (;;) {
      if (*pos >= line.size()) return Status::InvalidArgument("unterminated label value");
      const char c = line[(*pos)++];
      if (c == '"') break;
      if (c != '\\') {
        value.push_back(c);
        continue;
      }
      if (*pos >= line.size()) return Status::InvalidArgument("unterminated label value");
      const char e = line[(*pos)++];
      if (e == 'n') {
        value.push_back('\n');
      } else if (e == '\\' || e == '"') {
        value.push_back(e);
      } else {
        return Status::InvalidArgument("bad escape in label value");
      }
    }
    sample->labels.emplace_back(std::string(key), std::move(value));
    SkipBlanks(line, pos);
    if (*pos < line.size() && line[*pos] == ',') {
      ++*pos;
    } else if (*pos >= line.size() || line[*pos] != '}') {
      return Status::InvalidArgument("expected ',' or '}' after a label");
    }
  }
}

Status ParseComment(std::string_view line, ScrapedMetrics* out) {
  size_t pos = 1;
  SkipBlanks(line, &pos);
  if (line.substr(pos, 4) != "TYPE") return Status::OK();  // HELP and free comments
  pos += 4;
  if (pos < line.size() && line[pos] != ' ' && line[pos] != '\t') return Status::OK();
  SkipBlanks(line, &pos);
  const std::string_view name = TakeName(line, &pos);
  SkipBlanks(line, &pos);
  std::string_view type = line.substr(pos);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  if (name.empty()) return Status::InvalidArgument("TYPE without a metric name");
  if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
      type != "untyped") {
    return Status::InvalidArgument("unknown TYPE '" + std::string(type) + "'");
  }
  out->types[std::string(name)] = std::string(type);
  return Status::OK();
}

Status ParseSample(std::string_view line, ScrapedSample* sample) {
  size_t pos = 0;
  const std::string_view name = TakeName(line, &pos);
  if (name.empty()) return Status::InvalidArgument("bad metric name");
  sample->name = std::string(name);
  if (pos < line.size() && line[pos] == '{') {
    ++pos;
    Status s = ParseLabels(line, &pos, sample);
    if (!s.ok()) return s;
  }
  const size_t before_value = pos;
  SkipBlanks(line, &pos);
  if (pos == before_value) return Status::InvalidArgument("no blank before the value");
  const size_t value_start = pos;
  while (pos < line.size() && line[pos] != ' ' && line[pos] != '\t') ++pos;
  if (!ParseValue(line.substr(value_start, pos - value_start), &sample->value)) {
    return Status::InvalidArgument("bad value");
  }
  SkipBlanks(line, &pos);
  if (pos < line.size()) {  // a timestamp: integer milliseconds
    int64_t ts = 0;
    const std::string_view rest = line.substr(pos);
    const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), ts);
    if (ec != std::errc() || ptr != rest.data() + rest.size()) {
      return Status::InvalidArgument("bad timestamp");
    }
  }
  return Status::OK();
}

}  // namespace

std::string_view ScrapedSample::Label(std::string_view key) const {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return {};
}

Status ParseMetricsText(std::string_view text, ScrapedMetrics* out) {
  *out = ScrapedMetrics();
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t first = 0;
    SkipBlanks(line, &first);
    line.remove_prefix(first);
    if (line.empty()) continue;
    Status s;
    if (line[0] == '#') {
      s = ParseComment(line, out);
    } else {
      ScrapedSample sample;
      s = ParseSample(line, &sample);
      if (s.ok()) out->samples.push_back(std::move(sample));
    }
    if (!s.ok()) {
      return Status::InvalidArgument("line " + std::to_string(line_no) + ": " +
                                     std::string(s.message()));
    }
  }
  return Status::OK();
}

}  // namespace meshq::cli
