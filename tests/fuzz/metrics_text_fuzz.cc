// Fuzz target: the Prometheus text parser of `meshq top` (ParseMetricsText). Never a crash; every
// sample it returns has a well-formed name and label names, and parsing is deterministic.
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "metrics_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshq::cli;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  ScrapedMetrics m, again;
  const bool ok = ParseMetricsText(in, &m).ok();
  FUZZ_CHECK(ParseMetricsText(in, &again).ok() == ok);
  FUZZ_CHECK(again.samples.size() == m.samples.size());
  auto name_ok = [](std::string_view n) {
    if (n.empty() || (n[0] >= '0' && n[0] <= '9')) return false;
    for (char c : n) {
      const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == ':';
      if (!word) return false;
    }
    return true;
  };
  for (const ScrapedSample& s : m.samples) {
    FUZZ_CHECK(name_ok(s.name));
    for (const auto& [k, v] : s.labels) FUZZ_CHECK(name_ok(k));
  }
  return 0;
}
