// ParseMetricsText: the reader of Prometheus text exposition (format 0.0.4) behind `meshq top`.
// Pure: bytes in, samples or an error out, so it is unit-tested and fuzzed without sockets.
//   # HELP name text          ignored
//   # TYPE name counter|gauge|histogram|summary|untyped
//   name{label="value",...} value [timestamp]
// Values are floats, "NaN", "+Inf", "-Inf"; label values take the escapes \\, \" and \n.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "meshq/status.h"

namespace meshq::cli {

struct ScrapedSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // in the order written
  double value = 0;

  // The label's value, "" when absent.
  std::string_view Label(std::string_view key) const;
};

struct ScrapedMetrics {
  std::vector<ScrapedSample> samples;        // in the order written
  std::map<std::string, std::string> types;  // family name -> its # TYPE
};

// Parses `text` into *out (replacing what it held). InvalidArgument naming the line ("line 3:
// ...") for anything that is not a comment, a blank line or a well-formed sample; *out then holds
// the samples before that line.
Status ParseMetricsText(std::string_view text, ScrapedMetrics* out);

}  // namespace meshq::cli
