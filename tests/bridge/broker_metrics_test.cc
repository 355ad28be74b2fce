// meshq-broker's /metrics and /healthz (docs/metrics.md), on the real binary: counters move with
// traffic, the output passes promtool, health follows the store, and the responder's errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "broker_process.h"
#include "loopback_client.h"
#include "meshq/bridge/blocking_broker_client.h"
#include "meshq/bridge/frame.h"
#include "metrics_sample.h"
#include "skip_or_fail.h"

namespace meshq::bridge {
namespace {

using ::meshq::testing::HttpBody;
using ::meshq::testing::HttpExchange;
using ::meshq::testing::HttpGet;
using testing::BrokerProcess;
using testing::RunProgram;

constexpr const char* kPromtool = "/usr/bin/promtool";

double Sample(const std::string& text, const std::string& series) {
  return ::meshq::testing::MetricSample(text, series);
}

class BrokerMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.Start({"--metrics-port", "0"}));
    ASSERT_NE(broker_.metrics_port(), 0);
  }

  std::string Scrape() {
    const std::string r = HttpGet(broker_.metrics_port(), "/metrics");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n")) << r;
    return HttpBody(r);
  }

  std::unique_ptr<BlockingBrokerClient> Connect() {
    auto c = std::make_unique<BlockingBrokerClient>(broker_.address());
    EXPECT_TRUE(c->Connect(std::chrono::seconds(5)).ok());
    return c;
  }

  // `puts` synced PUTs of `per_put` messages, then a GET and a FETCH of them.
  void Traffic(BlockingBrokerClient& c, int puts, int per_put) {
    for (int p = 0; p < puts; ++p) {
      std::vector<std::pair<uint64_t, std::string>> batch;
      for (int i = 0; i < per_put; ++i) batch.emplace_back(0, "message " + std::to_string(i));
      ASSERT_TRUE(c.Put("metrics-q", batch, kPutFlagFlush).ok());
    }
    std::vector<OwnedMessage> got;
    ASSERT_TRUE(c.Get("metrics-q", 0, 10, &got).ok());
    ASSERT_EQ(got.size(), 10u);
    ASSERT_TRUE(c.Fetch("metrics-q", 0, 10, 100, &got).ok());
  }

  BrokerProcess broker_;
};

TEST_F(BrokerMetricsTest, CountersMoveWithTrafficAndPassPromtool) {
  auto c = Connect();
  Traffic(*c, 5, 4);
  const std::string before = Scrape();
  Traffic(*c, 10, 3);
  const std::string after = Scrape();

  auto moved = [&](const std::string& series) {
    return Sample(after, series) - Sample(before, series);
  };
  EXPECT_EQ(moved("meshq_broker_frames_received_total{type=\"put\"}"), 10);
  EXPECT_EQ(moved("meshq_broker_frames_received_total{type=\"get\"}"), 1);
  EXPECT_EQ(moved("meshq_broker_frames_received_total{type=\"fetch\"}"), 1);
  EXPECT_GT(moved("meshq_broker_received_bytes_total{type=\"put\"}"), 10.0 * kFrameHeaderSize);
  EXPECT_EQ(moved("meshq_broker_frames_sent_total{type=\"put_reply\"}"), 10);
  EXPECT_EQ(moved("meshq_broker_frames_sent_total{type=\"messages\"}"), 2);
  EXPECT_EQ(moved("meshq_broker_request_duration_seconds_count{op=\"put\"}"), 10);
  EXPECT_EQ(moved("meshq_broker_request_duration_seconds_bucket{op=\"put\",le=\"+Inf\"}"), 10);
  EXPECT_GT(moved("meshq_broker_request_duration_seconds_sum{op=\"put\"}"), 0);
  EXPECT_EQ(moved("meshq_broker_request_duration_seconds_count{op=\"get\"}"), 1);
  EXPECT_GE(moved("meshq_broker_flush_duration_seconds_count{mode=\"sync\"}"), 1);
  EXPECT_GE(moved("meshq_broker_commit_round_duration_seconds_count"), 1);
  EXPECT_EQ(moved("meshq_broker_commit_round_requests_sum"), 10);
  EXPECT_EQ(moved("meshq_store_puts_total"), 30);
  EXPECT_EQ(moved("meshq_store_messages"), 30);
  EXPECT_GE(moved("meshq_store_gets_total"), 2);
  EXPECT_EQ(Sample(after, "meshq_store_queues"), 1);
  EXPECT_GT(Sample(after, "meshq_store_written_bytes_total"), 0);
  EXPECT_GT(Sample(after, "meshq_store_allocated_bytes"), 0);
  EXPECT_EQ(Sample(after, "meshq_broker_connections"), 1);
  EXPECT_EQ(Sample(after, "meshq_broker_connections_accepted_total"), 1);
  EXPECT_EQ(Sample(after, "meshq_broker_errors_total{status=\"bad_frame\"}"), 0);

  // A real scraper's parser and lint.
  if (access(kPromtool, X_OK) != 0) MESHQ_SKIP_OR_FAIL(std::string(kPromtool) + " is missing");
  const std::string file = broker_.dir() + "/metrics.txt";
  std::ofstream(file) << after;
  std::string out;
  const int rc =
      RunProgram({"/bin/sh", "-c", std::string(kPromtool) + " check metrics < " + file + " 2>&1"},
                 &out, std::chrono::seconds(30));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << "promtool's lint";
}

TEST_F(BrokerMetricsTest, ErrorsAreCountedByStatus) {
  auto c = Connect();
  EXPECT_FALSE(c->Put("", {{0, "no queue name"}}).ok());
  const std::string text = Scrape();
  EXPECT_EQ(Sample(text, "meshq_broker_errors_total{status=\"invalid_argument\"}"), 1);
  EXPECT_EQ(Sample(text, "meshq_broker_frames_sent_total{type=\"error\"}"), 1);
}

// A long-poll that had to wait is timed as a wait, from its arrival to its (empty) answer.
TEST_F(BrokerMetricsTest, AParkedFetchIsAWait) {
  auto c = Connect();
  std::vector<OwnedMessage> got;
  ASSERT_TRUE(c->Fetch("empty", 0, 10, 50, &got).ok());
  EXPECT_TRUE(got.empty());
  const std::string text = Scrape();
  EXPECT_EQ(Sample(text, "meshq_broker_fetch_wait_seconds_count{op=\"fetch\"}"), 1);
  EXPECT_GE(Sample(text, "meshq_broker_fetch_wait_seconds_sum{op=\"fetch\"}"), 0.05);
  EXPECT_EQ(Sample(text, "meshq_broker_request_duration_seconds_count{op=\"fetch\"}"), 0);
  EXPECT_EQ(Sample(text, "meshq_broker_parked_fetches"), 0);
}

TEST_F(BrokerMetricsTest, HealthAndTheRest) {
  const uint16_t port = broker_.metrics_port();
  std::string r = HttpGet(port, "/healthz");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n")) << r;
  EXPECT_EQ(HttpBody(r), "ok\n");
  EXPECT_TRUE(HttpGet(port, "/").starts_with("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_TRUE(HttpGet(port, "/metrics", "DELETE").starts_with("HTTP/1.1 405"));
  EXPECT_TRUE(HttpExchange(port, "\x16\x03\x01 not http\r\n\r\n").starts_with("HTTP/1.1 400"));
  const std::string big = "GET /metrics HTTP/1.1\r\nX: " + std::string(64 << 10, 'a') + "\r\n\r\n";
  EXPECT_TRUE(HttpExchange(port, big).starts_with("HTTP/1.1 431"));
  // Still serving both ports.
  EXPECT_TRUE(HttpGet(port, "/healthz").starts_with("HTTP/1.1 200 OK\r\n"));
  auto c = Connect();
  EXPECT_TRUE(c->Put("after", {{0, "x"}}).ok());
}

// Writes that fail (every file capped, as on a full disk) make the broker unhealthy.
TEST(BrokerHealth, UnhealthyWhileStoreWritesFail) {
  BrokerProcess broker;
  broker.set_file_size_limit(1u << 20);
  ASSERT_TRUE(broker.Start({"--metrics-port", "0"}));
  BlockingBrokerClient c(broker.address());
  ASSERT_TRUE(c.Connect(std::chrono::seconds(5)).ok());
  const std::string payload(1000, 'f');
  Status failed;
  for (int put = 0; put < 400 && failed.ok(); ++put) {
    std::vector<std::pair<uint64_t, std::string>> batch(64, {0, payload});
    failed = c.Put("full", batch, kPutFlagFlush);
  }
  ASSERT_FALSE(failed.ok()) << "no PUT failed with every file capped at 1 MiB";
  const std::string r = HttpGet(broker.metrics_port(), "/healthz");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << r;
  EXPECT_TRUE(HttpBody(r).starts_with("unhealthy: store writes failing: IO error")) << r;
  EXPECT_GE(Sample(HttpBody(HttpGet(broker.metrics_port(), "/metrics")),
                   "meshq_broker_errors_total{status=\"io_error\"}"),
            1);
}

TEST(BrokerMetricsFlags, OffUnlessAsked) {
  BrokerProcess broker;
  ASSERT_TRUE(broker.Start());
  EXPECT_EQ(broker.metrics_port(), 0);
  std::string out;
  EXPECT_EQ(RunProgram({MESHQ_BROKER_PATH, "--dir", broker.dir() + "/x", "--metrics-port", "x"},
                       &out, std::chrono::seconds(10)),
            2);
}

}  // namespace
}  // namespace meshq::bridge
