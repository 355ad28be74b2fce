// `meshq top` as a person uses it: in a terminal (tmux) against a real meshq-broker, the screen
// read back with `tmux capture-pane`; and `--once` as a script uses it. An endpoint nobody
// listens on is shown DOWN beside the live one, never a crash.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "child_process.h"

namespace meshq::cli {
namespace {

using namespace std::chrono_literals;
using agent::testing::ChildProcess;

// Runs a shell command, returning its stdout and (through *rc) its exit status.
std::string Shell(const std::string& command, int* rc = nullptr) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int status = pclose(p);
  if (rc) *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

class TopScreenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/meshq-top-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(broker_.Start(
        {MESHQ_BROKER_BIN, "--dir", dir_ + "/store", "--port", "0", "--metrics-port", "0"},
        dir_ + "/broker.log"));
    std::string rest;
    ASSERT_TRUE(broker_.WaitForLine("metrics on ", 10s, &metrics_address_));
    ASSERT_TRUE(broker_.WaitForLine("listening on 127.0.0.1:", 10s, &rest));
    // One client connection, so a gauge reads 1 and a counter has moved.
    client_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(std::stoi(rest)));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(client_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    // A port nobody listens on: bound, never listening.
    down_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in d{};
    d.sin_family = AF_INET;
    d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof d;
    ASSERT_EQ(bind(down_, reinterpret_cast<sockaddr*>(&d), sizeof d), 0);
    ASSERT_EQ(getsockname(down_, reinterpret_cast<sockaddr*>(&d), &len), 0);
    down_address_ = "127.0.0.1:" + std::to_string(ntohs(d.sin_port));
  }

  void TearDown() override {
    if (!tmux_socket_.empty()) Shell("tmux -L " + tmux_socket_ + " kill-server 2>/dev/null");
    if (client_ >= 0) close(client_);
    if (down_ >= 0) close(down_);
    broker_.Kill(SIGTERM);
    std::error_code ec;
    if (!HasFailure()) std::filesystem::remove_all(dir_, ec);
  }

  std::string dir_, metrics_address_, down_address_, tmux_socket_;
  ChildProcess broker_;
  int client_ = -1, down_ = -1;
};

TEST_F(TopScreenTest, TheScreenRefreshesInPlaceAndShowsADownEndpoint) {
  // A tmux server of this test's own (its socket named after the test process).
  tmux_socket_ = "meshq-top-test-" + std::to_string(getpid());
  const std::string tmux = "tmux -L " + tmux_socket_ + " ";
  int rc = -1;
  Shell(tmux + "new-session -d -s top -x 150 -y 60 '" + MESHQ_BIN + " top " + metrics_address_ +
            " " + down_address_ + " --interval 0.3'",
        &rc);
  ASSERT_EQ(rc, 0);
  std::string screen, first_header;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  // Two different frames: the header's clock moves while the layout stays where it was.
  while (std::chrono::steady_clock::now() < deadline) {
    screen = Shell(tmux + "capture-pane -p -t top");
    const std::string header = screen.substr(0, screen.find('\n'));
    if (screen.find("meshq_broker_connections ") != std::string::npos) {
      if (first_header.empty()) first_header = header;
      if (header != first_header) break;
    }
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(screen.rfind("meshq top ", 0), 0u) << screen;
  EXPECT_NE(screen.find(metrics_address_ + "  up"), std::string::npos) << screen;
  EXPECT_NE(screen.find(down_address_ + "  DOWN  connect: Connection refused"), std::string::npos)
      << screen;
  // (No call has been made: no histogram has an observation, so no LATENCIES section yet.)
  for (const char* part :
       {"RATES", "GAUGES", "meshq_broker_connections_accepted_", "meshq_store_queues"}) {
    EXPECT_NE(screen.find(part), std::string::npos) << part << " in:\n" << screen;
  }
  // The one connection: the gauge's row ends in 1.
  const size_t row = screen.find("meshq_broker_connections ");
  ASSERT_NE(row, std::string::npos) << screen;
  std::string line = screen.substr(row, screen.find('\n', row) - row);
  line.erase(line.find_last_not_of(' ') + 1);
  EXPECT_EQ(line.back(), '1') << line;
  EXPECT_NE(first_header, screen.substr(0, screen.find('\n'))) << "the screen was redrawn";
  EXPECT_EQ(std::count(screen.begin(), screen.end(), '\x1b'), 0) << "escapes are interpreted";
  // Once, not twice: redrawn in place, not scrolled.
  const size_t up = screen.find(metrics_address_ + "  up");
  EXPECT_EQ(screen.find(metrics_address_ + "  up", up + 1), std::string::npos) << screen;
}

TEST_F(TopScreenTest, OnceIsForScripts) {
  int rc = -1;
  std::string out = Shell(
      std::string(MESHQ_BIN) + " top --once --interval 0.2 " + metrics_address_ + " 2>&1", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << "no escapes for a script";
  EXPECT_NE(out.find(metrics_address_ + "  up"), std::string::npos) << out;
  EXPECT_NE(out.find("meshq_broker_connections "), std::string::npos) << out;
  EXPECT_NE(out.find("meshq_broker_connections_accepted_total"), std::string::npos) << out;

  out = Shell(std::string(MESHQ_BIN) + " top --once --interval 0.1 " + metrics_address_ + " " +
                  down_address_ + " 2>&1",
              &rc);
  EXPECT_EQ(rc, 1) << "an endpoint is down:\n" << out;
  EXPECT_NE(out.find(down_address_ + "  DOWN"), std::string::npos) << out;
  EXPECT_NE(out.find(metrics_address_ + "  up"), std::string::npos) << out;

  out = Shell(std::string(MESHQ_BIN) + " top 2>&1", &rc);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_EQ(out, "meshq top: at least one HOST:PORT is required; see --help\n");
}

}  // namespace
}  // namespace meshq::cli
