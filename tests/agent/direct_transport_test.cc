// Direct mode in one process: DirectTransport (consumer side) against real AgentListeners
// (provider side) over loopback TCP, with an in-process Invoker standing in for the Dubbo
// provider so the tests can hold, delay or refuse calls. Specifies balancing by weight, retry of
// calls that were never sent, "lost" for calls sent to a provider that crashed, deadlines, and
// the graceful drain.
#include "meshq/agent/direct_transport.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <thread>

#include "agent_frame.h"
#include "child_process.h"
#include "io_threads.h"
#include "meshq/agent/agent_listener.h"
#include "test_provider_side.h"

namespace meshq::agent {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using testing::ProviderSide;
using testing::TestProvider;

class DirectTransportTest : public ::testing::Test {
 protected:
  DirectTransportTest() : transport_(io_, DirectTransport::Options{}) {}
  ~DirectTransportTest() override { transport_.Shutdown(); }

  // Starts a call; the result lands in results_[index].
  void Call(int index, const std::string& parameter, std::chrono::milliseconds timeout = 3000ms) {
    CallRequest r;
    r.interface_name = "svc";
    r.method = "hash";
    r.parameter_types = "Ljava/lang/String;";
    r.parameter = parameter;
    r.deadline = Clock::now() + timeout;
    transport_.Invoke(std::move(r),
                      [this, index](CallResult result) { results_[index] = std::move(result); });
  }

  // Runs the consumer loop until `n` results are in (or 5 s pass).
  bool RunUntil(size_t n) {
    const auto deadline = Clock::now() + 5s;
    while (results_.size() < n && Clock::now() < deadline) io_.run_for(5ms);
    return results_.size() >= n;
  }

  std::map<int, int> CountByTag() {
    std::map<int, int> by;
    for (const auto& [i, r] : results_) {
      if (r.status == CallStatus::kOk) ++by[r.body[0] - '0'];
    }
    return by;
  }

  asio::io_context io_;
  // Keeps run_for() running when momentarily idle (an idle io_context would stop).
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::map<int, CallResult> results_;  // before transport_: its shutdown still reports here
  DirectTransport transport_;
};

TEST_F(DirectTransportTest, ConcurrentCallsSplitByWeight) {
  ProviderSide a("1"), b("3");
  a.provider.delay_ms = 20;
  b.provider.delay_ms = 20;
  transport_.UpdateEndpoints({a.Endpoint(1), b.Endpoint(3)});
  for (int i = 0; i < 400; ++i) Call(i, "p" + std::to_string(i));
  ASSERT_TRUE(RunUntil(400));
  for (const auto& [i, r] : results_) {
    ASSERT_EQ(r.status, CallStatus::kOk) << r.body;
    ASSERT_EQ(r.body.substr(2), "p" + std::to_string(i));
  }
  auto by = CountByTag();
  EXPECT_NEAR(by[1], 100, 5);
  EXPECT_NEAR(by[3], 300, 5);
}

TEST_F(DirectTransportTest, UnreachableEndpointIsRetriedElsewhereAndEjected) {
  ProviderSide live("1");
  ProviderEndpoint dead;
  dead.service = "svc";
  dead.host = "127.0.0.1";
  dead.port = static_cast<uint16_t>(testing::FreeLoopbackPort());  // nothing listens there
  dead.key = "/t/svc/dead";
  dead.weight = 100;  // preferred by weight: every first attempt goes there until ejected
  transport_.UpdateEndpoints({dead, live.Endpoint(1)});
  for (int i = 0; i < 20; ++i) Call(i, "x");
  ASSERT_TRUE(RunUntil(20));
  for (const auto& [i, r] : results_) EXPECT_EQ(r.status, CallStatus::kOk) << r.body;
  EXPECT_NE(transport_.Describe().find(dead.address() + " weight=100 inflight=0"),
            std::string::npos);
  EXPECT_NE(transport_.Describe().find("ejected=1"), std::string::npos) << transport_.Describe();
}

TEST_F(DirectTransportTest, CallsSentToACrashedProviderAreReportedLostNotRetried) {
  auto a = std::make_unique<ProviderSide>("1");
  ProviderSide b("2");
  a->provider.hold = true;
  transport_.UpdateEndpoints({a->Endpoint(100), b.Endpoint(1)});
  for (int i = 0; i < 5; ++i) Call(i, "x");
  const auto deadline = Clock::now() + 2s;
  while (a->provider.received < 5 && Clock::now() < deadline) io_.run_for(5ms);
  ASSERT_EQ(a->provider.received, 5);
  a.reset();
  ASSERT_TRUE(RunUntil(5));
  for (const auto& [i, r] : results_) {
    EXPECT_EQ(r.status, CallStatus::kLost) << r.body;
    EXPECT_EQ(HttpStatusFor(r.status), 502);
  }
  EXPECT_EQ(b.provider.received, 0) << "a call that may have run must not run twice";
  // New calls go to the survivor.
  results_.clear();
  Call(0, "y");
  ASSERT_TRUE(RunUntil(1)) << transport_.Describe();
  EXPECT_EQ(results_[0].status, CallStatus::kOk);
  EXPECT_EQ(results_[0].body, "2:y");
}

TEST_F(DirectTransportTest, UnansweredCallTimesOutAtItsDeadline) {
  ProviderSide a("1");
  a.provider.hold = true;
  transport_.UpdateEndpoints({a.Endpoint(1)});
  const auto start = Clock::now();
  Call(0, "x", 300ms);
  ASSERT_TRUE(RunUntil(1));
  EXPECT_EQ(results_[0].status, CallStatus::kTimeout);
  EXPECT_EQ(HttpStatusFor(results_[0].status), 504);
  EXPECT_GE(Clock::now() - start, 290ms);
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST_F(DirectTransportTest, NoEndpointForTheInterfaceIsNoProvider) {
  Call(0, "x");
  ASSERT_TRUE(RunUntil(1));
  EXPECT_EQ(results_[0].status, CallStatus::kNoProvider);
  EXPECT_EQ(HttpStatusFor(results_[0].status), 503);
}

TEST_F(DirectTransportTest, DrainingProviderFinishesPendingCallsAndNewOnesGoElsewhere) {
  ProviderSide a("1"), b("2");
  a.provider.delay_ms = 100;
  transport_.UpdateEndpoints({a.Endpoint(100), b.Endpoint(1)});
  for (int i = 0; i < 5; ++i) Call(i, "x");
  const auto deadline = Clock::now() + 2s;
  while (a.provider.received < 5 && Clock::now() < deadline) io_.run_for(5ms);
  ASSERT_EQ(a.provider.received, 5);
  a.threads.RunOn(0, [&] { a.listener->Drain(); });
  io_.run_for(20ms);  // the GoAway arrives
  for (int i = 5; i < 10; ++i) Call(i, "x");
  ASSERT_TRUE(RunUntil(10));
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(results_[i].status, CallStatus::kOk) << results_[i].body;
    EXPECT_EQ(results_[i].body[0], i < 5 ? '1' : '2') << i;
  }
}

TEST(AgentListenerTest, SilentLinksAreClosedAsHalfOpenPingingOnesAreKept) {
  IoThreads threads(1);
  TestProvider provider(threads.io(0), "1");
  AgentListener::Options options;
  options.silence_limit = 300ms;
  AgentListener listener(threads.io(0), std::make_shared<std::string>("127.0.0.1:0"), options);
  ASSERT_TRUE(listener.Start(&provider).ok());
  threads.Start();
  std::string host;
  uint16_t port = 0;
  ASSERT_TRUE(SplitHostPort(listener.address(), &host, &port));
  asio::io_context io;
  asio::ip::tcp::socket silent(io), pinging(io);
  const asio::ip::tcp::endpoint ep(asio::ip::make_address(host), port);
  silent.connect(ep);
  pinging.connect(ep);
  const auto start = Clock::now();
  // The pinging link sends a ping every 100 ms for 900 ms; the silent one sends nothing.
  std::string ping;
  frame::AppendPing(1, &ping);
  for (int i = 0; i < 9; ++i) {
    asio::write(pinging, asio::buffer(ping));
    std::this_thread::sleep_for(100ms);
  }
  // What the listener sent on `s` within 3 s; "eof" once it closed, "timeout" if it did not.
  auto read_within = [](asio::ip::tcp::socket& s, size_t want) {
    std::string got;
    while (got.size() < want) {
      pollfd p{s.native_handle(), POLLIN, 0};
      if (poll(&p, 1, 3000) <= 0) return got + "timeout";
      char buf[256];
      const ssize_t n = read(s.native_handle(), buf, sizeof buf);
      if (n <= 0) return got + "eof";
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  };
  EXPECT_EQ(read_within(silent, 1), "eof");
  // Every ping answered, and the link still open: a ping now is answered too.
  asio::write(pinging, asio::buffer(ping));
  EXPECT_EQ(read_within(pinging, 10 * ping.size()).size(), 10 * ping.size());
  EXPECT_GE(Clock::now() - start, 900ms);
  threads.Stop();
}

}  // namespace
}  // namespace meshq::agent
