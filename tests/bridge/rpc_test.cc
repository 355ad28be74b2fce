// Request-reply over a real meshq-broker process: round trips, timeouts, no responders,
// responders restarting, the broker killed mid-run, retries running once, a requester
// collecting its replies after a restart, competing responders, and the audit over it all.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "broker_process.h"
#include "io_thread.h"
#include "meshq/bridge/hop_stats.h"
#include "meshq/bridge/rpc_client.h"
#include "meshq/bridge/rpc_server.h"

namespace meshq::bridge {
namespace {

using namespace std::chrono_literals;
using testing::BrokerProcess;
using testing::IoThread;
namespace asio = boost::asio;

// Counts handler runs per request id (shared by all servers of a test).
struct HandlerLog {
  std::mutex mu;
  std::map<uint64_t, int> runs;
  std::atomic<int> total{0};
  void Record(uint64_t id) {
    std::lock_guard lock(mu);
    ++runs[id];
    ++total;
  }
  int Runs(uint64_t id) {
    std::lock_guard lock(mu);
    return runs.count(id) ? runs[id] : 0;
  }
};

class RpcTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.Start({"--responder-grace-ms", "3000"})); }
  void TearDown() override {
    for (auto& s : servers_) io_.Run([&] { s->Shutdown(); });
    for (auto& c : clients_) io_.Run([&] { c->Shutdown(); });
  }

  // A server of `service` answering "re:<payload>" after `delay` (0 = at once).
  std::shared_ptr<RpcServer> StartServer(const std::string& service,
                                         std::chrono::milliseconds delay = 0ms,
                                         uint32_t max_in_flight = 256,
                                         PutDurability durability = PutDurability::kWritten) {
    RpcServerOptions o;
    o.broker = broker_.address();
    o.service = service;
    o.max_in_flight = max_in_flight;
    o.reply_durability = durability;
    auto server = io_.Run([&] {
      auto s = RpcServer::Create(io_.io(), o,
                                 [this, delay](const RpcCall& call, RpcServer::Respond respond) {
                                   log_.Record(call.request_id);
                                   std::string reply = "re:" + call.payload;
                                   if (delay == 0ms) return respond(ReplyStatus::kOk, reply);
                                   auto t = std::make_shared<asio::steady_timer>(io_.io(), delay);
                                   t->async_wait([t, respond, reply](boost::system::error_code) {
                                     respond(ReplyStatus::kOk, reply);
                                   });
                                 });
      s->Start();
      return s;
    });
    servers_.push_back(server);
    return server;
  }

  std::shared_ptr<RpcClient> StartClient(const std::string& id,
                                         PutDurability durability = PutDurability::kWritten) {
    RpcClientOptions o;
    o.broker = broker_.address();
    o.client_id = id;
    o.request_durability = durability;
    auto client = io_.Run([&] {
      auto c = RpcClient::Create(io_.io(), o);
      c->Start();
      return c;
    });
    clients_.push_back(client);
    return client;
  }

  // Starts a call and returns a future of its result.
  std::future<CallResult> CallAsync(const std::shared_ptr<RpcClient>& client,
                                    const std::string& service, const std::string& payload,
                                    CallOptions options = {}) {
    auto promise = std::make_shared<std::promise<CallResult>>();
    auto f = promise->get_future();
    asio::post(io_.io(), [=] {
      client->Call(service, payload, options,
                   [promise](CallResult r) { promise->set_value(std::move(r)); });
    });
    return f;
  }

  CallResult CallSync(const std::shared_ptr<RpcClient>& client, const std::string& service,
                      const std::string& payload, CallOptions options = {}) {
    auto f = CallAsync(client, service, payload, options);
    EXPECT_EQ(f.wait_for(30s), std::future_status::ready);
    return f.get();
  }

  // Waits (bounded) until the server's connection is a member of the service's group.
  void WaitForServer() { std::this_thread::sleep_for(150ms); }

  // Calls `service` while the broker is killed (SIGKILL) and restarted; every call is answered
  // exactly once.
  void KillBrokerMidRun(const std::string& service, PutDurability durability);

  BrokerProcess broker_;
  IoThread io_;
  HandlerLog log_;
  std::vector<std::shared_ptr<RpcServer>> servers_;
  std::vector<std::shared_ptr<RpcClient>> clients_;
};

TEST_F(RpcTest, RequestsAreAnsweredThroughTheBroker) {
  StartServer("echo");
  WaitForServer();
  auto client = StartClient("client-a");
  HopStats().request.Take();  // this test's period (the process's stats are shared)
  HopStats().reply.Take();
  std::vector<std::future<CallResult>> calls;
  for (int i = 0; i < 100; ++i) {
    CallOptions o;
    o.timeout = 10s;
    calls.push_back(CallAsync(client, "echo", "p" + std::to_string(i), o));
  }
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(calls[i].wait_for(30s), std::future_status::ready);
    CallResult r = calls[i].get();
    EXPECT_EQ(r.error, CallError::kNone) << r.payload;
    EXPECT_EQ(r.payload, "re:p" + std::to_string(i));
  }
  EXPECT_EQ(log_.total.load(), 100);
  // Every first attempt's two hops were measured (server and client share this process).
  LatencyHistogram request_hop = HopStats().request.Take();
  LatencyHistogram reply_hop = HopStats().reply.Take();
  EXPECT_EQ(request_hop.count(), 100u);
  EXPECT_EQ(reply_hop.count(), 100u);
  EXPECT_LT(request_hop.Percentile(0.5), 30'000'000u);  // microseconds; the calls took < 30 s
  EXPECT_LT(reply_hop.Percentile(0.5), 30'000'000u);

  // The audit pairs all 100 from the stored queues.
  std::string out;
  int rc = testing::RunProgram({MESHQ_AUDIT_PATH, "--broker",
                                "127.0.0.1:" + std::to_string(broker_.port()), "--service", "echo"},
                               &out, 20s);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("requests 100  answered 100"), std::string::npos) << out;
  EXPECT_NE(out.find("latency p50"), std::string::npos) << out;
}

TEST_F(RpcTest, ACallWithoutAReplyTimesOut) {
  RpcServerOptions o;
  o.broker = broker_.address();
  o.service = "silent";
  std::vector<RpcServer::Respond> held;  // never called (until teardown drops them)
  auto server = io_.Run([&] {
    auto s = RpcServer::Create(io_.io(), o, [&held](const RpcCall&, RpcServer::Respond respond) {
      held.push_back(std::move(respond));
    });
    s->Start();
    return s;
  });
  servers_.push_back(server);
  WaitForServer();
  auto client = StartClient("client-t");
  CallOptions opts;
  opts.timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  CallResult r = CallSync(client, "silent", "x", opts);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.error, CallError::kTimedOut);
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(io_.Run([&] { return client->pending(); }), 0u) << "expired calls are swept";

  // The audit reports it as unanswered past its deadline, and fails.
  std::string out;
  int rc =
      testing::RunProgram({MESHQ_AUDIT_PATH, "--broker",
                           "127.0.0.1:" + std::to_string(broker_.port()), "--service", "silent"},
                          &out, 20s);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("UNANSWERED"), std::string::npos) << out;
  io_.Run([&] { held.clear(); });
}

TEST_F(RpcTest, NoRespondersFailsFastNotByTimeout) {
  auto client = StartClient("client-n");
  CallOptions opts;
  opts.timeout = 5s;
  auto start = std::chrono::steady_clock::now();
  CallResult r = CallSync(client, "nobody-serves-this", "x", opts);
  EXPECT_EQ(r.error, CallError::kNoResponders) << r.payload;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST_F(RpcTest, ARequestSentWhileTheResponderIsDownIsHandledWhenItReturns) {
  auto first = StartServer("restarting");
  WaitForServer();
  auto client = StartClient("client-r");
  EXPECT_EQ(CallSync(client, "restarting", "before").error, CallError::kNone);
  io_.Run([&] { first->Shutdown(); });
  std::this_thread::sleep_for(100ms);
  CallOptions opts;
  opts.timeout = 5s;
  auto pending = CallAsync(client, "restarting", "while-down", opts);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(pending.wait_for(0ms), std::future_status::timeout) << "nobody could answer yet";
  auto second = StartServer("restarting");
  ASSERT_EQ(pending.wait_for(10s), std::future_status::ready);
  CallResult r = pending.get();
  EXPECT_EQ(r.error, CallError::kNone) << r.payload;
  EXPECT_EQ(r.payload, "re:while-down");
  EXPECT_EQ(second->stats().handled.load(), 1u);
}

TEST_F(RpcTest, ARequestWhoseDeadlinePassedIsDroppedNotExecuted) {
  auto first = StartServer("stale");
  WaitForServer();
  io_.Run([&] { first->Shutdown(); });
  auto client = StartClient("client-s");
  CallOptions opts;
  opts.timeout = 200ms;
  EXPECT_EQ(CallSync(client, "stale", "late", opts).error, CallError::kTimedOut);
  auto second = StartServer("stale");
  for (int i = 0; i < 200 && second->stats().expired.load() == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(second->stats().expired.load(), 1u);
  EXPECT_EQ(second->stats().handled.load(), 0u);
  EXPECT_EQ(log_.total.load(), 0);
}

TEST_F(RpcTest, ARetriedCallRunsOnce) {
  StartServer("once", 200ms);
  WaitForServer();
  auto client = StartClient("client-d");
  CallOptions opts;
  opts.timeout = 10s;
  opts.request_id = 0xABCDEF;
  // Two attempts in flight at once, then a third after the reply: one execution.
  auto a = CallAsync(client, "once", "x", opts);
  auto b = CallAsync(client, "once", "x", opts);
  CallResult ra = a.get(), rb = b.get();
  EXPECT_EQ(ra.error, CallError::kNone);
  EXPECT_EQ(rb.payload, "re:x");
  CallResult rc = CallSync(client, "once", "x", opts);
  EXPECT_EQ(rc.error, CallError::kNone) << rc.payload;
  EXPECT_EQ(rc.payload, "re:x");
  // Another client retrying the same request id gets the stored reply too.
  auto other = StartClient("client-d2");
  HopStats().request.Take();
  HopStats().reply.Take();
  CallResult rd = CallSync(other, "once", "x", opts);
  EXPECT_EQ(rd.payload, "re:x");
  EXPECT_EQ(log_.Runs(0xABCDEF), 1);
  // That stored reply travelled no hop now: its age is not a reply hop (nor a request one).
  EXPECT_EQ(HopStats().reply.Take().count(), 0u);
  EXPECT_EQ(HopStats().request.Take().count(), 0u);
}

TEST_F(RpcTest, ARestartedRequesterCollectsItsReply) {
  StartServer("slow", 400ms);
  WaitForServer();
  auto first = StartClient("requester-1");
  CallOptions opts;
  opts.timeout = 10s;
  auto lost = CallAsync(first, "slow", "keep-me", opts);
  std::this_thread::sleep_for(100ms);  // the request is stored; its reply is not yet
  uint64_t id = 0;
  io_.Run([&] { first->Shutdown(); });
  id = lost.get().request_id;
  auto second = StartClient("requester-1");
  auto promise = std::make_shared<std::promise<CallResult>>();
  auto f = promise->get_future();
  asio::post(io_.io(), [&, promise] {
    second->Collect(id, 5s, [promise](CallResult r) { promise->set_value(std::move(r)); });
  });
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  CallResult r = f.get();
  EXPECT_EQ(r.error, CallError::kNone) << r.payload;
  EXPECT_EQ(r.payload, "re:keep-me");
}

TEST_F(RpcTest, CompetingRespondersEachHandleDistinctRequests) {
  auto s1 = StartServer("shared", 5ms, 4);
  auto s2 = StartServer("shared", 5ms, 4);
  WaitForServer();
  auto client = StartClient("client-c");
  std::vector<std::future<CallResult>> calls;
  CallOptions opts;
  opts.timeout = 20s;
  for (int i = 0; i < 200; ++i) calls.push_back(CallAsync(client, "shared", "c", opts));
  for (auto& f : calls) {
    ASSERT_EQ(f.wait_for(30s), std::future_status::ready);
    EXPECT_EQ(f.get().error, CallError::kNone);
  }
  EXPECT_EQ(log_.total.load(), 200);
  EXPECT_EQ(s1->stats().handled.load() + s2->stats().handled.load(), 200u);
  EXPECT_GT(s1->stats().handled.load(), 0u);
  EXPECT_GT(s2->stats().handled.load(), 0u);
  std::lock_guard lock(log_.mu);
  for (auto& [id, runs] : log_.runs) EXPECT_EQ(runs, 1) << id;
}

TEST_F(RpcTest, CallsDoNotWaitForAPeriodicWake) {
  // Everything periodic is made far longer than a call: the broker's offset commits (5 s) and
  // the long-polls of requests and replies (1 s). A request or reply that got through only when
  // one of them came round (a wake-up not delivered, a Flush left to the next cycle) would put
  // the median call near 1 s or 5 s; woken at once it takes well under a millisecond here. The
  // bound is generous (a loaded or sanitizer build stays far below it), not a speed test.
  ASSERT_TRUE(broker_.Restart({"--responder-grace-ms", "3000", "--commit-interval-ms", "5000"}));
  for (PutDurability durability :
       {PutDurability::kStored, PutDurability::kWritten, PutDurability::kSynced}) {
    SCOPED_TRACE(PutDurabilityName(durability));
    const std::string service = std::string("wake-") + PutDurabilityName(durability);
    StartServer(service, 0ms, 256, durability);
    WaitForServer();
    auto client = StartClient(service + "-client", durability);
    CallOptions opts;
    opts.timeout = 10s;  // a call held for a wake fails on the median below, not on its deadline
    std::vector<std::chrono::steady_clock::duration> took;
    for (int i = 0; i < 21; ++i) {
      auto start = std::chrono::steady_clock::now();
      CallResult r = CallSync(client, service, "w" + std::to_string(i), opts);
      took.push_back(std::chrono::steady_clock::now() - start);
      ASSERT_EQ(r.error, CallError::kNone) << r.payload;
      EXPECT_EQ(r.payload, "re:w" + std::to_string(i));
    }
    std::sort(took.begin(), took.end());
    EXPECT_LT(took[took.size() / 2], 250ms)
        << "median call "
        << std::chrono::duration_cast<std::chrono::milliseconds>(took[took.size() / 2]).count()
        << " ms: calls wait for a periodic wake";
  }
}

TEST_F(RpcTest, AServerNeverRunsMoreThanItsMaxInFlight) {
  // Several fetches may be in flight for one server (room freed while one is out is asked for by
  // another); together they never take more requests than max_in_flight.
  constexpr uint32_t kMax = 3;
  int running = 0, most = 0, done = 0;
  RpcServerOptions o;
  o.broker = broker_.address();
  o.service = "bounded";
  o.max_in_flight = kMax;
  servers_.push_back(io_.Run([&] {
    auto s = RpcServer::Create(io_.io(), o, [&](const RpcCall& call, RpcServer::Respond respond) {
      most = std::max(most, ++running);
      auto t = std::make_shared<asio::steady_timer>(io_.io(), 3ms);
      t->async_wait([&, t, respond, payload = call.payload](boost::system::error_code) {
        --running;
        ++done;
        respond(ReplyStatus::kOk, payload);
      });
    });
    s->Start();
    return s;
  }));
  WaitForServer();
  auto client = StartClient("client-bounded");
  CallOptions opts;
  opts.timeout = 20s;
  std::vector<std::future<CallResult>> calls;
  for (int i = 0; i < 60; ++i) calls.push_back(CallAsync(client, "bounded", "b", opts));
  for (auto& f : calls) {
    ASSERT_EQ(f.wait_for(30s), std::future_status::ready);
    EXPECT_EQ(f.get().error, CallError::kNone);
  }
  io_.Run([&] {
    EXPECT_EQ(done, 60);
    EXPECT_LE(most, static_cast<int>(kMax));
    EXPECT_EQ(most, static_cast<int>(kMax)) << "the server should fill its capacity";
    return 0;
  });
}

// A client treats a request the broker acknowledged WRITTEN or SYNCED as safe and does not send
// it again when the connection drops, so a request lost by the kill would time out here.
TEST_F(RpcTest, BrokerKilledMidRunLosesNoAcknowledgedRequest) {
  for (PutDurability durability : {PutDurability::kWritten, PutDurability::kSynced}) {
    SCOPED_TRACE(PutDurabilityName(durability));
    KillBrokerMidRun(std::string("durable-") + PutDurabilityName(durability), durability);
  }
}

void RpcTest::KillBrokerMidRun(const std::string& service, PutDurability durability) {
  StartServer(service, 2ms, 256, durability);
  WaitForServer();
  auto client = StartClient(service + "-client", durability);
  CallOptions opts;
  opts.timeout = 20s;
  std::vector<std::future<CallResult>> calls;
  for (int i = 0; i < 150; ++i) {
    calls.push_back(CallAsync(client, service, "k" + std::to_string(i), opts));
    if (i == 75) {
      broker_.Stop(SIGKILL);
      std::this_thread::sleep_for(200ms);
      ASSERT_TRUE(broker_.Start({"--responder-grace-ms", "3000"}));
    }
    std::this_thread::sleep_for(2ms);
  }
  for (int i = 0; i < 150; ++i) {
    ASSERT_EQ(calls[i].wait_for(40s), std::future_status::ready);
    CallResult r = calls[i].get();
    EXPECT_EQ(r.error, CallError::kNone) << i << ": " << r.payload;
    EXPECT_EQ(r.payload, "re:k" + std::to_string(i));
  }
  std::lock_guard lock(log_.mu);
  EXPECT_EQ(log_.runs.size(), 150u);
  for (auto& [id, runs] : log_.runs) EXPECT_EQ(runs, 1) << "request " << id << " ran twice";
  log_.runs.clear();
}

}  // namespace
}  // namespace meshq::bridge
