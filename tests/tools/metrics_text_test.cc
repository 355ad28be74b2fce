// ParseMetricsText: what a Prometheus text exposition holds comes back sample by sample, with
// labels unescaped and types recorded; anything malformed is refused naming its line.
#include "metrics_text.h"

#include <gtest/gtest.h>

#include <cmath>

namespace meshq::cli {
namespace {

TEST(MetricsText, SamplesLabelsAndTypesComeBackInOrder) {
  ScrapedMetrics m;
  ASSERT_TRUE(ParseMetricsText("# HELP meshq_puts_total Puts stored.\n"
                               "# TYPE meshq_puts_total counter\n"
                               "meshq_puts_total 42\n"
                               "\n"
                               "# TYPE meshq_put_seconds histogram\n"
                               "meshq_put_seconds_bucket{op=\"put\",le=\"0.001\"} 3\n"
                               "meshq_put_seconds_bucket{op=\"put\",le=\"+Inf\"} 5 1700000000000\n"
                               "meshq_put_seconds_sum{op=\"put\"} 0.25\r\n"
                               "  up{job=\"a b\" , x=\"q\\\"uote\\\\back\\nline\",} 1e-3\n",
                               &m)
                  .ok());
  ASSERT_EQ(m.samples.size(), 5u);
  EXPECT_EQ(m.samples[0].name, "meshq_puts_total");
  EXPECT_EQ(m.samples[0].value, 42);
  EXPECT_TRUE(m.samples[0].labels.empty());
  EXPECT_EQ(m.samples[2].Label("le"), "+Inf");
  EXPECT_EQ(m.samples[2].Label("op"), "put");
  EXPECT_EQ(m.samples[2].value, 5);
  EXPECT_EQ(m.samples[3].value, 0.25);
  EXPECT_EQ(m.samples[4].Label("job"), "a b");
  EXPECT_EQ(m.samples[4].Label("x"), "q\"uote\\back\nline");
  EXPECT_EQ(m.samples[4].Label("absent"), "");
  EXPECT_DOUBLE_EQ(m.samples[4].value, 0.001);
  EXPECT_EQ(m.types.at("meshq_puts_total"), "counter");
  EXPECT_EQ(m.types.at("meshq_put_seconds"), "histogram");
}

TEST(MetricsText, SpecialValues) {
  ScrapedMetrics m;
  ASSERT_TRUE(ParseMetricsText("a NaN\nb +Inf\nc -Inf\nd +3\ne -0.5\n", &m).ok());
  ASSERT_EQ(m.samples.size(), 5u);
  EXPECT_TRUE(std::isnan(m.samples[0].value));
  EXPECT_TRUE(std::isinf(m.samples[1].value) && m.samples[1].value > 0);
  EXPECT_TRUE(std::isinf(m.samples[2].value) && m.samples[2].value < 0);
  EXPECT_EQ(m.samples[3].value, 3);
  EXPECT_EQ(m.samples[4].value, -0.5);
}

TEST(MetricsText, MalformedLinesAreRefusedByNumber) {
  auto error = [](const char* text) {
    ScrapedMetrics m;
    Status s = ParseMetricsText(text, &m);
    EXPECT_TRUE(s.IsInvalidArgument()) << text;
    return std::string(s.message());
  };
  EXPECT_EQ(error("ok 1\nbad\n"), "line 2: no blank before the value");
  EXPECT_EQ(error("x abc\n"), "line 1: bad value");
  EXPECT_EQ(error("x 1 2.5\n"), "line 1: bad timestamp");
  EXPECT_EQ(error("9x 1\n"), "line 1: bad metric name");
  EXPECT_EQ(error("x{a=\"1\" 1\n"), "line 1: expected ',' or '}' after a label");
  EXPECT_EQ(error("x{a=1} 1\n"), "line 1: label value not quoted");
  EXPECT_EQ(error("x{a=\"1} 1\n"), "line 1: unterminated label value");
  EXPECT_EQ(error("x{a=\"\\t\"} 1\n"), "line 1: bad escape in label value");
  EXPECT_EQ(error("x{=\"1\"} 1\n"), "line 1: bad label name");
  EXPECT_EQ(error("# TYPE x rainbow\n"), "line 1: unknown TYPE 'rainbow'");
  EXPECT_EQ(error("x{a\"1\"} 1\n"), "line 1: no '=' in label");
  ScrapedMetrics m;
  EXPECT_FALSE(ParseMetricsText("a 1\nb 2\n!\n", &m).ok());
  EXPECT_EQ(m.samples.size(), 2u) << "what came before the bad line is kept";
}

TEST(MetricsText, CommentsAndBlankLinesAreSkipped) {
  ScrapedMetrics m;
  ASSERT_TRUE(ParseMetricsText("# just a comment\n#\n# TYPEX y gauge\n\n   \n", &m).ok());
  EXPECT_TRUE(m.samples.empty());
  EXPECT_TRUE(m.types.empty());
  ASSERT_TRUE(ParseMetricsText("", &m).ok());
  ASSERT_TRUE(ParseMetricsText("no_newline_at_end 7", &m).ok());
  ASSERT_EQ(m.samples.size(), 1u);
  EXPECT_EQ(m.samples[0].value, 7);
}

}  // namespace
}  // namespace meshq::cli
