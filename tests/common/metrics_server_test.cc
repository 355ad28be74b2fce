// MetricsServer: /metrics, /healthz and the rest over real loopback connections, and its bounds
// (request size, slow clients, connections at once).
#include "meshq/metrics_server.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "loopback_client.h"

namespace meshq {
namespace {

using std::chrono::milliseconds;

using ::meshq::testing::ConnectLoopback;
using ::meshq::testing::HttpBody;
using ::meshq::testing::HttpExchange;
using ::meshq::testing::ReadUntilClosed;

std::string Get(uint16_t port, const std::string& path, const char* method = "GET") {
  return ::meshq::testing::HttpGet(port, path, method);
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void StartServer(MetricsServerOptions options = {}) {
    ASSERT_TRUE(
        MetricsServer::Start(
            options, &registry_,
            [this] { return healthy_ ? Status::OK() : Status::Unavailable("store closed"); },
            &server_)
            .ok());
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }

  MetricsRegistry registry_;
  std::atomic<bool> healthy_{true};
  std::unique_ptr<MetricsServer> server_;
  uint16_t port_ = 0;
};

TEST_F(MetricsServerTest, ServesTheRegistry) {
  Counter* c = registry_.AddCounter("meshq_requests_total", "Requests.");
  StartServer();
  c->Inc(3);
  std::string r = Get(port_, "/metrics");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n")) << r;
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos);
  EXPECT_EQ(HttpBody(r), registry_.Render());
  EXPECT_NE(HttpBody(r).find("meshq_requests_total 3\n"), std::string::npos);
  c->Inc();
  EXPECT_NE(HttpBody(Get(port_, "/metrics?x=y")).find("meshq_requests_total 4\n"),
            std::string::npos);
  const std::string head = Get(port_, "/metrics", "HEAD");
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\n")) << head;
  EXPECT_EQ(HttpBody(head), "");
}

TEST_F(MetricsServerTest, HealthFollowsTheCheck) {
  StartServer();
  std::string r = Get(port_, "/healthz");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n")) << r;
  EXPECT_EQ(HttpBody(r), "ok\n");
  healthy_ = false;
  r = Get(port_, "/healthz");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << r;
  EXPECT_EQ(HttpBody(r), "unhealthy: store closed\n");
}

TEST_F(MetricsServerTest, AnswersTheRestWithErrors) {
  StartServer();
  EXPECT_TRUE(Get(port_, "/").starts_with("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_TRUE(Get(port_, "/metricsx").starts_with("HTTP/1.1 404 Not Found\r\n"));
  const std::string post = Get(port_, "/metrics", "POST");
  EXPECT_TRUE(post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_TRUE(HttpExchange(port_, "GARBAGE\r\n\r\n").starts_with("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_TRUE(HttpExchange(port_, "GET /metrics HTTP/1.1\r\nbroken\r\n\r\n")
                  .starts_with("HTTP/1.1 400 Bad Request\r\n"));
}

TEST_F(MetricsServerTest, RefusesAnOversizedRequest) {
  MetricsServerOptions o;
  o.max_request_bytes = 1024;
  StartServer(o);
  const std::string big = "GET /metrics HTTP/1.1\r\nX: " + std::string(4000, 'a') + "\r\n\r\n";
  const std::string r = HttpExchange(port_, big);
  EXPECT_TRUE(r.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n")) << r;
  // Still serving.
  EXPECT_TRUE(Get(port_, "/healthz").starts_with("HTTP/1.1 200 OK\r\n"));
}

TEST_F(MetricsServerTest, ClosesASlowClient) {
  MetricsServerOptions o;
  o.timeout = milliseconds(200);
  StartServer(o);
  const int fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "GET /metr", 9), 9);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ReadUntilClosed(fd, milliseconds(5000)), "");  // closed without an answer
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(5000));
  close(fd);
}

TEST_F(MetricsServerTest, CapsConnectionsAtOnce) {
  MetricsServerOptions o;
  o.max_connections = 2;
  StartServer(o);
  const int a = ConnectLoopback(port_), b = ConnectLoopback(port_);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  // Both held by the server once a request on a third connection is refused.
  std::string r;
  for (int i = 0; i < 100; ++i) {
    r = Get(port_, "/healthz");
    if (r.starts_with("HTTP/1.1 503")) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << r;
  EXPECT_EQ(HttpBody(r), "too many connections\n");
  close(a);
  close(b);
  for (int i = 0; i < 100; ++i) {
    r = Get(port_, "/healthz");
    if (r.starts_with("HTTP/1.1 200")) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n")) << r;
}

TEST(MetricsServer, ReportsABindFailure) {
  MetricsRegistry registry;
  std::unique_ptr<MetricsServer> first, second;
  ASSERT_TRUE(MetricsServer::Start({}, &registry, nullptr, &first).ok());
  MetricsServerOptions o;
  o.port = first->port();
  const Status s = MetricsServer::Start(o, &registry, nullptr, &second);
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_EQ(second, nullptr);
}

}  // namespace
}  // namespace meshq
