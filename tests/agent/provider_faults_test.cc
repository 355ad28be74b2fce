// The provider-agent against a provider that misbehaves on purpose (meshq-provider-sim's fault
// flags, a child process over real TCP): idle closes, heartbeats kept and unanswered,
// connections lost mid-call, an answer larger than the agent frame limit, a deep exception
// chain. DubboClient alone for the connection's life; a ProviderAgent (no registry) behind a
// DirectTransport for what a consumer-agent sees, with the HTTP status of each failure.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "java_hash.h"
#include "meshq/agent/agent_listener.h"
#include "meshq/agent/direct_transport.h"
#include "meshq/agent/dubbo_client.h"
#include "meshq/agent/provider_agent.h"

#ifndef MESHQ_PROVIDER_SIM_PATH
#error "MESHQ_PROVIDER_SIM_PATH (the meshq-provider-sim binary) is not defined"
#endif

namespace meshq::agent {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using testing::ChildProcess;

constexpr const char* kService = "com.alibaba.dubbo.performance.demo.provider.IHelloService";

std::string Hash(const std::string& s) {
  int32_t h = 0;
  EXPECT_TRUE(JavaStringHash(s, &h).ok());
  return std::to_string(h);
}

// The value of `key=` in the simulator's counters line.
long Counter(const std::string& line, const std::string& key) {
  const size_t at = line.find(key + "=");
  if (at == std::string::npos) return -1;
  return std::stol(line.substr(at + key.size() + 1));
}

class ProviderFaultsTest : public ::testing::Test {
 protected:
  ~ProviderFaultsTest() override {
    if (transport_) transport_->Shutdown();
    if (agent_) agent_->Stop();
    if (client_) client_->Close();
  }

  void StartSim(std::vector<std::string> extra) {
    std::vector<std::string> argv = {MESHQ_PROVIDER_SIM_PATH, "--port", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ASSERT_TRUE(sim_.Start(argv));
    std::string address;
    ASSERT_TRUE(sim_.WaitForLine("listening on 127.0.0.1:", 10s, &address));
    sim_port_ = static_cast<uint16_t>(std::stoi(address));
  }

  // SIGTERM; the counters line the simulator prints on its way out.
  std::string StopSim() {
    kill(sim_.pid(), SIGTERM);
    std::string counters;
    EXPECT_TRUE(sim_.WaitForLine("provider-sim: ", 10s, &counters));
    sim_.Kill(0);
    return counters;
  }

  DubboClient::Options DubboOptions() const {
    DubboClient::Options o;
    o.port = sim_port_;
    return o;
  }

  // A DubboClient on the test's loop (calls go straight to the provider).
  void StartClient(DubboClient::Options o) { client_ = std::make_unique<DubboClient>(io_, o); }

  // A provider-agent in front of the simulator and a consumer-side DirectTransport to it.
  void StartMesh(DubboClient::Options o, size_t max_frame = kDefaultMaxAgentFrame) {
    ProviderAgent::Options po;
    po.etcd.clear();
    po.dubbo = o;
    AgentListener::Options lo;
    lo.max_frame = max_frame;
    agent_ = std::make_unique<ProviderAgent>(po, AgentListener::Factory("127.0.0.1:0", lo));
    ASSERT_TRUE(agent_->Start().ok());
    DirectTransport::Options to;
    to.link.max_frame = max_frame;
    transport_ = std::make_unique<DirectTransport>(io_, to);
    ProviderEndpoint ep;
    ep.service = kService;
    ASSERT_TRUE(SplitHostPort(agent_->address(), &ep.host, &ep.port));
    ep.key = "/t/" + agent_->address();
    transport_->UpdateEndpoints({ep});
  }

  // Starts a call on the client (or, once StartMesh ran, the transport); its result lands in
  // results_[index].
  void Call(int index, const std::string& parameter, std::chrono::milliseconds timeout = 5000ms) {
    CallRequest r;
    r.interface_name = kService;
    r.method = "hash";
    r.parameter_types = "Ljava/lang/String;";
    r.parameter = parameter;
    r.deadline = Clock::now() + timeout;
    Invoker* target = transport_ ? static_cast<Invoker*>(transport_.get()) : client_.get();
    target->Invoke(std::move(r),
                   [this, index](CallResult result) { results_[index] = std::move(result); });
  }

  bool RunUntil(size_t n, std::chrono::milliseconds limit = 8000ms) {
    const auto deadline = Clock::now() + limit;
    while (results_.size() < n && Clock::now() < deadline) io_.run_for(5ms);
    return results_.size() >= n;
  }
  void RunFor(std::chrono::milliseconds d) {
    const auto deadline = Clock::now() + d;
    while (Clock::now() < deadline) io_.run_for(5ms);
  }

  // Calls results_[first..first+n) with distinct parameters and expects every one answered OK.
  void ExpectCallsOk(int first, int n) {
    const size_t want = results_.size() + n;
    for (int i = first; i < first + n; ++i) Call(i, "p" + std::to_string(i));
    ASSERT_TRUE(RunUntil(want));
    for (int i = first; i < first + n; ++i) {
      ASSERT_EQ(results_[i].status, CallStatus::kOk) << i << ": " << results_[i].body;
      EXPECT_EQ(results_[i].body, Hash("p" + std::to_string(i)));
    }
  }

  ChildProcess sim_;
  uint16_t sim_port_ = 0;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::map<int, CallResult> results_;  // before the invokers: their shutdown still reports here
  std::unique_ptr<DubboClient> client_;
  std::unique_ptr<ProviderAgent> agent_;
  std::unique_ptr<DirectTransport> transport_;
};

TEST_F(ProviderFaultsTest, IdleCloseByTheProviderCostsNoCall) {
  StartSim({"--latency-ms", "2", "--idle-close-ms", "300"});
  auto o = DubboOptions();
  o.heartbeat_interval = 0ms;  // let the provider's idle timeout strike
  StartClient(o);
  ExpectCallsOk(0, 5);
  for (int round = 1; round <= 2; ++round) {
    RunFor(500ms);  // closed by the provider; reopened in the background
    ExpectCallsOk(round * 100, 20);
  }
  const std::string counters = StopSim();
  EXPECT_EQ(Counter(counters, "closed"), 2) << counters;
  EXPECT_EQ(Counter(counters, "connections"), 3) << counters;
  EXPECT_EQ(Counter(counters, "dropped"), 0) << counters;
}

TEST_F(ProviderFaultsTest, CallsMadeRightAfterACloseWaitForTheReconnect) {
  StartSim({"--latency-ms", "2", "--fault-parameters"});
  StartClient(DubboOptions());
  ExpectCallsOk(0, 1);
  // The provider drops the connection; the calls made in the same turn as the loss find no
  // connection up and must wait for the new one rather than fail.
  Call(1, "fault:close");
  const auto deadline = Clock::now() + 5s;
  while (!results_.count(1) && Clock::now() < deadline) io_.run_one_for(5ms);
  ASSERT_TRUE(results_.count(1));
  for (int i = 2; i < 12; ++i) Call(i, "p" + std::to_string(i));
  ASSERT_TRUE(RunUntil(12));
  EXPECT_EQ(results_[1].status, CallStatus::kLost) << results_[1].body;
  for (int i = 2; i < 12; ++i) {
    EXPECT_EQ(results_[i].status, CallStatus::kOk) << i << ": " << results_[i].body;
  }
  StopSim();
}

TEST_F(ProviderFaultsTest, HeartbeatsKeepAQuietConnection) {
  // The provider closes connections idle for 600 ms; heartbeats every 150 ms keep it.
  StartSim({"--latency-ms", "1", "--idle-close-ms", "600"});
  auto o = DubboOptions();
  o.heartbeat_interval = 150ms;
  StartClient(o);
  ExpectCallsOk(0, 1);
  RunFor(1500ms);
  ExpectCallsOk(1, 3);
  const std::string counters = StopSim();
  EXPECT_GE(Counter(counters, "heartbeats"), 5) << counters;
  EXPECT_EQ(Counter(counters, "connections"), 1) << counters;
  EXPECT_EQ(Counter(counters, "closed"), 0) << counters;
}

TEST_F(ProviderFaultsTest, UnansweredHeartbeatsCloseAndReopenTheConnection) {
  StartSim({"--latency-ms", "1", "--no-heartbeat-answers"});
  auto o = DubboOptions();
  o.heartbeat_interval = 150ms;  // closed after 3 x 150 ms without anything received
  StartClient(o);
  ExpectCallsOk(0, 1);
  RunFor(1200ms);
  ExpectCallsOk(1, 3);
  const std::string counters = StopSim();
  EXPECT_GE(Counter(counters, "connections"), 2) << counters;
  EXPECT_GE(Counter(counters, "heartbeats"), 2) << counters;
}

TEST_F(ProviderFaultsTest, UnreachableProviderFailsFastAndIsRetriedWithBackoff) {
  StartSim({"--latency-ms", "1"});
  auto o = DubboOptions();
  StopSim();  // nothing listens on the port any more
  StartClient(o);
  Call(0, "a");
  ASSERT_TRUE(RunUntil(1));
  EXPECT_EQ(results_[0].status, CallStatus::kNotExecuted) << results_[0].body;
  EXPECT_NE(results_[0].body.find("unreachable"), std::string::npos) << results_[0].body;
  // During the pause after a failed connect, calls fail at once, saying when the next try is.
  const auto start = Clock::now();
  Call(1, "b");
  ASSERT_TRUE(RunUntil(2));
  EXPECT_LT(Clock::now() - start, 20ms);
  EXPECT_NE(results_[1].body.find("next connect attempt in"), std::string::npos)
      << results_[1].body;
}

TEST_F(ProviderFaultsTest, PeerDroppingEveryConnectionIsRetriedWithBackoffNotInALoop) {
  // Accepts and closes at once, like a proxy whose backend is gone.
  asio::io_context peer_io;
  asio::ip::tcp::acceptor acceptor(peer_io,
                                   asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::atomic<int> accepts{0};
  std::function<void()> accept = [&] {
    acceptor.async_accept([&](const boost::system::error_code& ec, asio::ip::tcp::socket s) {
      if (ec) return;
      ++accepts;
      s.close();
      accept();
    });
  };
  accept();
  std::thread peer([&] { peer_io.run(); });
  auto o = DubboOptions();
  o.port = acceptor.local_endpoint().port();
  StartClient(o);
  Call(0, "x");
  RunFor(700ms);
  peer_io.stop();
  peer.join();
  ASSERT_TRUE(results_.count(0));
  EXPECT_NE(results_[0].status, CallStatus::kOk);
  // The connection that carried the call is reopened at once; the idle ones after it back off
  // (100 ms doubling, +-50%): a handful of attempts, not thousands.
  EXPECT_GE(accepts.load(), 2);
  EXPECT_LE(accepts.load(), 8);
}

TEST_F(ProviderFaultsTest, OversizedAnswerFailsAloneWithTooLarge) {
  StartSim({"--latency-ms", "300", "--capacity", "100", "--fault-parameters"});
  StartMesh(DubboOptions());
  Call(0, "fault:answer-bytes:1100000");
  RunFor(50ms);  // the 8 slow calls are in flight on the same link when the big answer comes
  for (int i = 1; i <= 8; ++i) Call(i, "slow" + std::to_string(i));
  ASSERT_TRUE(RunUntil(9));
  EXPECT_EQ(results_[0].status, CallStatus::kTooLarge) << results_[0].body.substr(0, 200);
  EXPECT_EQ(HttpStatusFor(results_[0].status), 502);
  EXPECT_STREQ(CallStatusName(results_[0].status), "answer too large");
  EXPECT_NE(results_[0].body.find("exceeds the agent frame limit of 1048576"), std::string::npos)
      << results_[0].body.substr(0, 200);
  for (int i = 1; i <= 8; ++i) {
    EXPECT_EQ(results_[i].status, CallStatus::kOk) << i << ": " << results_[i].body;
    EXPECT_EQ(results_[i].body, Hash("slow" + std::to_string(i)));
  }
  // A larger limit (a flag on both agents) lets the same answer through.
  results_.clear();
  transport_->Shutdown();
  transport_.reset();
  agent_->Stop();
  StartMesh(DubboOptions(), 2u << 20);
  Call(0, "fault:answer-bytes:1100000");
  ASSERT_TRUE(RunUntil(1));
  EXPECT_EQ(results_[0].status, CallStatus::kOk);
  EXPECT_EQ(results_[0].body, std::string(1100000, 'x'));
  StopSim();
}

TEST_F(ProviderFaultsTest, ConnectionLostMidCallIsOutcomeUnknownNotAProviderError) {
  StartSim({"--latency-ms", "200", "--capacity", "100", "--fault-parameters"});
  StartMesh(DubboOptions());
  for (int i = 0; i < 4; ++i) Call(i, "slow" + std::to_string(i));
  RunFor(50ms);
  Call(4, "fault:close");  // closes the provider connection with the 4 slow calls in flight
  ASSERT_TRUE(RunUntil(5));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(results_[i].status, CallStatus::kLost) << i << ": " << results_[i].body;
    EXPECT_EQ(HttpStatusFor(results_[i].status), 502);
    EXPECT_STREQ(CallStatusName(results_[i].status),
                 "connection lost after sending, outcome unknown");
  }
  // The provider-agent reconnects: the next calls work.
  results_.clear();
  ExpectCallsOk(10, 5);
  StopSim();
}

TEST_F(ProviderFaultsTest, DeepExceptionChainKeepsItsTextAndSaysItWasCut) {
  StartSim({"--latency-ms", "1", "--fault-parameters"});
  StartMesh(DubboOptions());
  Call(0, "fault:exception-depth:70");
  Call(1, "fault:exception-depth:10");
  ASSERT_TRUE(RunUntil(2));
  EXPECT_EQ(results_[0].status, CallStatus::kProviderError);
  EXPECT_EQ(HttpStatusFor(results_[0].status), 500);
  EXPECT_EQ(results_[0].body,
            "java.lang.IllegalStateException: fault level 0 of 70 [exception object nested deeper "
            "than 64 levels: the deeper levels were cut]");
  EXPECT_EQ(results_[1].status, CallStatus::kProviderError);
  EXPECT_EQ(results_[1].body, "java.lang.IllegalStateException: fault level 0 of 10");
  // The link and the provider connection are fine afterwards.
  ExpectCallsOk(10, 3);
  StopSim();
}

}  // namespace
}  // namespace meshq::agent
