// Once means once through broker crashes: RPC load from two requesters to three responders
// through a meshq-broker that is killed with SIGKILL at random moments and restarted on the same
// store and port, over and over. Every execution is counted at the responders: each call runs
// exactly once, every call is answered, and `meshq audit` agrees (no request stored twice, none
// handed to two responders). MESHQ_TORTURE_SEED fixes the random moments.
#include <signal.h>

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "broker_process.h"
#include "io_thread.h"
#include "meshq/bridge/rpc_client.h"
#include "meshq/bridge/rpc_server.h"

namespace meshq::bridge {
namespace {

using namespace std::chrono_literals;
using testing::BrokerProcess;
using testing::IoThread;
namespace asio = boost::asio;

constexpr int kKills = 20;
constexpr int kResponders = 3;
const std::vector<std::string> kBrokerArgs = {"--responder-grace-ms", "5000"};

struct Executions {
  std::mutex mu;
  std::map<uint64_t, int> runs;  // by request id
  void Record(uint64_t id) {
    std::lock_guard lock(mu);
    ++runs[id];
  }
};

uint64_t Seed() {
  if (const char* s = std::getenv("MESHQ_TORTURE_SEED")) return std::strtoull(s, nullptr, 10);
  return static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
}

TEST(RpcCrashTest, EveryCallRunsOnceThroughTwentyBrokerKills) {
  const uint64_t seed = Seed();
  SCOPED_TRACE("MESHQ_TORTURE_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  BrokerProcess broker;
  ASSERT_TRUE(broker.Start(kBrokerArgs));
  const std::string service = "crash";
  Executions executions;

  // Each responder on its own thread, like the provider-agents of a mesh: a handler answers
  // after 0-20 ms, so calls are running when the broker dies.
  std::vector<std::unique_ptr<IoThread>> responder_threads;
  std::vector<std::shared_ptr<RpcServer>> responders;
  for (int i = 0; i < kResponders; ++i) {
    auto& t = responder_threads.emplace_back(std::make_unique<IoThread>());
    RpcServerOptions o;
    o.broker = broker.address();
    o.service = service;
    responders.push_back(t->Run([&, io = &t->io()] {
      auto delays = std::make_shared<std::mt19937>(static_cast<uint32_t>(seed) + i);
      auto s = RpcServer::Create(
          *io, o, [&executions, io, delays](const RpcCall& call, RpcServer::Respond respond) {
            executions.Record(call.request_id);
            auto timer = std::make_shared<asio::steady_timer>(
                *io, std::chrono::milliseconds((*delays)() % 21));
            timer->async_wait([timer, respond, reply = "re:" + call.payload](
                                  boost::system::error_code) { respond(ReplyStatus::kOk, reply); });
          });
      s->Start();
      return s;
    }));
  }
  std::this_thread::sleep_for(200ms);  // the responders join the group

  IoThread client_thread;
  std::vector<std::shared_ptr<RpcClient>> clients;
  for (int i = 0; i < 2; ++i) {
    RpcClientOptions o;
    o.broker = broker.address();
    o.client_id = "crash-client-" + std::to_string(i);
    clients.push_back(client_thread.Run([&] {
      auto c = RpcClient::Create(client_thread.io(), o);
      c->Start();
      return c;
    }));
  }

  std::vector<std::future<CallResult>> calls;
  auto call = [&] {
    auto promise = std::make_shared<std::promise<CallResult>>();
    calls.push_back(promise->get_future());
    CallOptions opts;
    opts.timeout = 25s;  // outlives every restart of the broker
    asio::post(client_thread.io(), [&, promise, opts, n = calls.size() - 1] {
      clients[n % clients.size()]->Call(
          service, "c" + std::to_string(n), opts,
          [promise](CallResult r) { promise->set_value(std::move(r)); });
    });
  };
  for (int kill = 0; kill < kKills; ++kill) {
    const auto run_for = std::chrono::milliseconds(100 + rng() % 300);
    const auto until = std::chrono::steady_clock::now() + run_for;
    while (std::chrono::steady_clock::now() < until) {
      call();
      std::this_thread::sleep_for(1ms);
    }
    broker.Stop(SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 50));
    ASSERT_TRUE(broker.Restart(kBrokerArgs)) << "restart after kill " << kill;
  }
  for (int i = 0; i < 200; ++i) call();  // and calls after the last restart

  size_t answered = 0;
  std::vector<uint64_t> ids(calls.size());
  for (size_t n = 0; n < calls.size(); ++n) {
    ASSERT_EQ(calls[n].wait_for(60s), std::future_status::ready) << "call " << n;
    CallResult r = calls[n].get();
    ids[n] = r.request_id;
    EXPECT_EQ(r.error, CallError::kNone) << "call " << n << ": " << r.payload;
    if (r.error == CallError::kNone) {
      EXPECT_EQ(r.payload, "re:c" + std::to_string(n));
      ++answered;
    }
  }
  EXPECT_EQ(answered, calls.size()) << "acknowledged calls lost";
  {
    std::lock_guard lock(executions.mu);
    size_t twice = 0;
    for (uint64_t id : ids) {
      auto it = executions.runs.find(id);
      const int runs = it == executions.runs.end() ? 0 : it->second;
      if (runs > 1) ++twice;
      EXPECT_LE(runs, 1) << "request " << std::hex << id << " ran " << std::dec << runs << " times";
    }
    EXPECT_EQ(twice, 0u);
    EXPECT_EQ(executions.runs.size(), calls.size()) << "executions != distinct calls";
  }

  // The audit sees the same: every call stored once, answered once, handed to one responder.
  std::string report;
  const int rc =
      testing::RunProgram({MESHQ_AUDIT_PATH, "--broker",
                           "127.0.0.1:" + std::to_string(broker.port()), "--service", service},
                          &report, 60s);
  EXPECT_EQ(rc, 0) << report;
  // Each call handed to exactly one responder: as many hand-outs as executions. A request the
  // kill lost after it was handed out (its retry found the stored reply) is still seen, by its
  // assignment.
  EXPECT_NE(report.find("  handed to responders " + std::to_string(calls.size()) + " ("),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("handed to more than one responder 0"), std::string::npos) << report;

  for (auto& c : clients) client_thread.Run([&] { c->Shutdown(); });
  for (int i = 0; i < kResponders; ++i)
    responder_threads[i]->Run([&] { responders[i]->Shutdown(); });
}

}  // namespace
}  // namespace meshq::bridge
