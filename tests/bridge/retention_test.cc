// Retention: the marks' arithmetic, then a real meshq-broker with --retention-ms/--retention-bytes:
// a consumer group's unacknowledged messages are never trimmed and its acknowledged, aged ones
// are; the size rule; RPC requests and replies trimmed once settled while a retry within the
// dedupe window still gets its stored reply and the audit still passes; a restart after trimming.
#include <signal.h>

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "broker_process.h"
#include "io_thread.h"
#include "meshq/bridge/blocking_broker_client.h"
#include "meshq/bridge/broker_protocol.h"
#include "meshq/bridge/rpc_client.h"
#include "meshq/bridge/rpc_message.h"
#include "meshq/bridge/rpc_server.h"
#include "retention.h"

namespace meshq::bridge {
namespace {

using namespace std::chrono_literals;
using testing::BrokerProcess;
using testing::IoThread;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

TEST(RetainedQueue, TheAgeRuleCutsAtTheNewestMarkOlderThanTheRetention) {
  const SteadyTime t0 = Clock::now();
  RetainedQueue q(5, t0);  // 5 messages before tracking began
  q.Stored(100);
  q.Mark(10, t0 + 1s, 0ms);
  q.Stored(100);
  q.Mark(20, t0 + 2s, 0ms);
  RetentionPolicy age{1500ms, 0};
  EXPECT_EQ(q.Cut(age, t0 + 1s, SteadyTime::max()), 0u);      // nothing 1.5 s old yet
  EXPECT_EQ(q.Cut(age, t0 + 1600ms, SteadyTime::max()), 5u);  // what came before tracking
  EXPECT_EQ(q.Cut(age, t0 + 2600ms, SteadyTime::max()), 10u);
  EXPECT_EQ(q.Cut(age, t0 + 10s, SteadyTime::max()), 20u);
  // The dedupe window's bound: no mark made after it counts.
  EXPECT_EQ(q.Cut(age, t0 + 10s, t0 + 1500ms), 10u);
  EXPECT_EQ(q.Cut(age, t0 + 10s, t0 - 1s), 0u);
}

TEST(RetainedQueue, TheSizeRuleKeepsAtLeastTheRetentionsBytes) {
  const SteadyTime t0 = Clock::now();
  RetainedQueue q(0, t0);
  for (int i = 1; i <= 4; ++i) {
    q.Stored(100);
    q.Mark(10 * i, t0 + i * 1s, 0ms);  // 100 bytes per 10 messages
  }
  RetentionPolicy bytes{0ms, 250};
  // 400 stored: from the mark at 20 on 200 are kept (< 250), from 10 on 300: cut at 10.
  EXPECT_EQ(q.Cut(bytes, t0 + 5s, SteadyTime::max()), 10u);
  RetentionPolicy more{0ms, 400};
  EXPECT_EQ(q.Cut(more, t0 + 5s, SteadyTime::max()), 0u);
  RetentionPolicy none{0ms, 401};
  EXPECT_EQ(q.Cut(none, t0 + 5s, SteadyTime::max()), 0u);
  // Either rule lets go: the age rule frees more here.
  RetentionPolicy both{1500ms, 250};
  EXPECT_EQ(q.Cut(both, t0 + 5s, SteadyTime::max()), 30u);
}

TEST(RetainedQueue, MarksStayBoundedAndTrimmedOnesGo) {
  const SteadyTime t0 = Clock::now();
  RetainedQueue q(0, t0);
  for (uint64_t i = 1; i <= 10 * RetainedQueue::kMaxMarks; ++i) {
    q.Stored(1);
    q.Mark(i, t0 + i * 1ms, 0ms);
  }
  EXPECT_LE(q.marks(), RetainedQueue::kMaxMarks);
  EXPECT_EQ(q.marked_size(), 10 * RetainedQueue::kMaxMarks);
  // A mark is made only when the queue grew and the gap has passed.
  const size_t n = q.marks();
  q.Mark(q.marked_size(), t0 + 1h, 0ms);
  q.Mark(q.marked_size() + 1, t0 + 1h, 2h);
  EXPECT_EQ(q.marks(), n);
  q.Trimmed(q.marked_size());
  EXPECT_EQ(q.marks(), 1u);
  EXPECT_EQ(q.Cut({1ms, 0}, t0 + 2h, SteadyTime::max()), q.marked_size());
}

std::vector<std::pair<uint64_t, std::string>> Messages(int n, const std::string& prefix,
                                                       size_t size = 0) {
  std::vector<std::pair<uint64_t, std::string>> out;
  for (int i = 0; i < n; ++i) {
    std::string m = prefix + std::to_string(i);
    if (m.size() < size) m.resize(size, '.');
    out.emplace_back(0, m);
  }
  return out;
}

// The first offset `queue` still holds (its size when trimmed to empty), read with GET.
uint64_t FirstKept(BlockingBrokerClient& c, const std::string& queue) {
  std::vector<OwnedMessage> got;
  uint64_t size = 0;
  EXPECT_TRUE(c.Get(queue, 0, 1, &got, &size).ok());
  return got.empty() ? size : got[0].offset;
}

// Waits (bounded) until `done()`; false when it did not come.
template <typename Fn>
bool WaitFor(Fn done, std::chrono::milliseconds limit = 10s) {
  const auto until = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

class RetentionTest : public ::testing::Test {
 protected:
  std::unique_ptr<BlockingBrokerClient> Connect() {
    auto c = std::make_unique<BlockingBrokerClient>(broker_.address());
    EXPECT_TRUE(c->Connect(5s).ok());
    return c;
  }
  BrokerProcess broker_;
};

TEST_F(RetentionTest, AConsumerGroupsUnacknowledgedMessagesAreNeverTrimmed) {
  ASSERT_TRUE(broker_.Start({"--retention-ms", "100", "--retention-round-ms", "20"}));
  auto producer = Connect();
  auto consumer = Connect();
  ASSERT_TRUE(producer->Put("orders", Messages(10, "m")).ok());
  std::vector<OwnedMessage> got;
  ASSERT_TRUE(consumer->GroupFetch("orders", "g", 10, 0, &got).ok());
  ASSERT_EQ(got.size(), 10u);
  ASSERT_TRUE(consumer->Ack("orders", "g", {0, 1, 2, 4}, false).ok());  // 3 and 5..9 unacked
  // Acknowledged and aged: trimmed up to the group's committed offset, no further.
  ASSERT_TRUE(WaitFor([&] { return FirstKept(*producer, "orders") == 3; }));
  std::this_thread::sleep_for(300ms);  // more rounds, well past the retention
  EXPECT_EQ(FirstKept(*producer, "orders"), 3u);
  ASSERT_TRUE(producer->Get("orders", 0, 100, &got).ok());
  ASSERT_EQ(got.size(), 7u);
  EXPECT_EQ(got[0].offset, 3u);
  EXPECT_EQ(got[0].payload, "m3");
  // The consumer dies: what it had not acknowledged goes to the next one, whole.
  consumer->Close();
  auto next = Connect();
  ASSERT_TRUE(next->GroupFetch("orders", "g", 100, 1000, &got).ok());
  std::vector<uint64_t> offsets;
  for (const auto& m : got) offsets.push_back(m.offset);
  EXPECT_EQ(offsets, (std::vector<uint64_t>{3, 5, 6, 7, 8, 9}));
  ASSERT_TRUE(next->Ack("orders", "g", offsets, false).ok());
  ASSERT_TRUE(WaitFor([&] { return FirstKept(*producer, "orders") == 10; }));
  BrokerStats stats;
  ASSERT_TRUE(producer->Stats(&stats).ok());
  EXPECT_GE(StatValue(stats, "trimmed_messages"), 10u);
  // Offsets never change: the next message is 10.
  std::vector<PutStatus> put;
  ASSERT_TRUE(producer->Put("orders", Messages(1, "n"), 0, &put).ok());
  EXPECT_EQ(put[0].offset, 10u);
}

TEST_F(RetentionTest, AQueueWithoutGroupsKeepsTheRetentionsBytes) {
  ASSERT_TRUE(broker_.Start({"--retention-bytes", "2000", "--retention-round-ms", "20"}));
  auto c = Connect();
  // 100-byte messages, 10 per round: marks between the batches.
  for (int batch = 0; batch < 6; ++batch) {
    ASSERT_TRUE(c->Put("log", Messages(10, "b" + std::to_string(batch) + "-", 100)).ok());
    std::this_thread::sleep_for(80ms);
  }
  ASSERT_TRUE(WaitFor([&] { return FirstKept(*c, "log") > 0; }));
  std::this_thread::sleep_for(200ms);
  const uint64_t first = FirstKept(*c, "log");
  // At least 2000 bytes (20 messages, with their 9-byte envelopes more) stay, at most a round's
  // worth more.
  EXPECT_GE(first, 20u);
  EXPECT_LE(first, 40u);
  std::vector<OwnedMessage> got;
  ASSERT_TRUE(c->Get("log", 0, 100, &got).ok());
  ASSERT_EQ(got.size(), 60 - first);
  EXPECT_EQ(got[0].offset, first);
}

TEST_F(RetentionTest, TrimmedQueuesStayTrimmedAcrossARestartAndGroupsResume) {
  const std::vector<std::string> flags = {"--retention-ms", "100", "--retention-round-ms", "20"};
  ASSERT_TRUE(broker_.Start(flags));
  {
    auto c = Connect();
    ASSERT_TRUE(c->Put("jobs", Messages(8, "j"), kPutFlagFlush).ok());
    std::vector<OwnedMessage> got;
    ASSERT_TRUE(c->GroupFetch("jobs", "w", 5, 0, &got).ok());
    ASSERT_TRUE(c->Ack("jobs", "w", {0, 1, 2, 3, 4}, true).ok());
    ASSERT_TRUE(WaitFor([&] { return FirstKept(*c, "jobs") == 5; }));
  }
  ASSERT_EQ(broker_.Stop(SIGTERM), 0);
  ASSERT_TRUE(broker_.Restart(flags));
  auto c = Connect();
  EXPECT_EQ(FirstKept(*c, "jobs"), 5u);
  // Written after the restart: the queue is tracked again, its listed group (whose messages
  // 5..7 nobody fetched since the restart) holds them back.
  ASSERT_TRUE(c->Put("jobs", Messages(2, "k"), kPutFlagFlush).ok());
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(FirstKept(*c, "jobs"), 5u);
  std::vector<OwnedMessage> got;
  ASSERT_TRUE(c->GroupFetch("jobs", "w", 10, 0, &got).ok());
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].offset, 5u);
  EXPECT_EQ(got[0].payload, "j5");
  EXPECT_EQ(got[4].payload, "k1");
}

// RPC through a broker whose retention is short and whose dedupe window lasts 3 s.
class RpcRetentionTest : public RetentionTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.Start({"--retention-ms", "100", "--retention-round-ms", "20",
                               "--dedupe-min-age-ms", "3000", "--redelivery-hold-ms", "200"}));
    RpcServerOptions so;
    so.broker = broker_.address();
    so.service = "kept";
    server_ = io_.Run([&] {
      auto s = RpcServer::Create(io_.io(), so, [this](const RpcCall& call, RpcServer::Respond r) {
        ++runs_;
        r(ReplyStatus::kOk, "re:" + call.payload);
      });
      s->Start();
      return s;
    });
    RpcClientOptions co;
    co.broker = broker_.address();
    co.client_id = "keeper";
    client_ = io_.Run([&] {
      auto c = RpcClient::Create(io_.io(), co);
      c->Start();
      return c;
    });
    std::this_thread::sleep_for(150ms);  // the server joins its group
  }
  void TearDown() override {
    io_.Run([&] { server_->Shutdown(); });
    io_.Run([&] { client_->Shutdown(); });
  }

  CallResult Call(const std::string& payload, uint64_t request_id = 0) {
    auto promise = std::make_shared<std::promise<CallResult>>();
    auto f = promise->get_future();
    CallOptions o;
    o.timeout = 5s;
    o.request_id = request_id;
    asio::post(io_.io(), [=, this] {
      client_->Call("kept", payload, o, [promise](CallResult r) { promise->set_value(r); });
    });
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    return f.get();
  }

  IoThread io_;
  std::atomic<int> runs_{0};
  std::shared_ptr<RpcServer> server_;
  std::shared_ptr<RpcClient> client_;
};

TEST_F(RpcRetentionTest, SettledCallsAreTrimmedAndARetryStillGetsItsStoredReply) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 20; ++i) {
    CallResult r = Call("p" + std::to_string(i));
    ASSERT_EQ(r.error, CallError::kNone) << r.payload;
    ids.push_back(r.request_id);
  }
  auto c = Connect();
  const std::string requests = RequestQueueName("kept");
  const std::string replies = ReplyQueueName("keeper");
  // Settled (replied, acked) and aged: the requests go. The replies stay while the window
  // remembers their ids.
  ASSERT_TRUE(WaitFor([&] { return FirstKept(*c, requests) == 20; }));
  EXPECT_EQ(FirstKept(*c, replies), 0u);
  // A retry of a call whose request was trimmed: answered from the stored reply, not run again.
  CallResult again = Call("p3", ids[3]);
  EXPECT_EQ(again.error, CallError::kNone) << again.payload;
  EXPECT_EQ(again.payload, "re:p3");
  EXPECT_EQ(runs_.load(), 20);
  // The audit reads what is kept and reports no false failure.
  std::string out;
  int rc = testing::RunProgram({MESHQ_AUDIT_PATH, "--broker",
                                "127.0.0.1:" + std::to_string(broker_.port()), "--service", "kept"},
                               &out, 20s);
  EXPECT_EQ(rc, 0) << out;
  // Once the window has forgotten them (3 s), the replies go too, and the audit still passes.
  ASSERT_TRUE(WaitFor([&] { return FirstKept(*c, replies) == 20; }));
  rc = testing::RunProgram({MESHQ_AUDIT_PATH, "--broker",
                            "127.0.0.1:" + std::to_string(broker_.port()), "--service", "kept"},
                           &out, 20s);
  EXPECT_EQ(rc, 0) << out;
  BrokerStats stats;
  ASSERT_TRUE(c->Stats(&stats).ok());
  EXPECT_GE(StatValue(stats, "trimmed_messages"), 40u);
  EXPECT_EQ(StatValue(stats, "dedupe_ids"), 0u);
}

TEST_F(RpcRetentionTest, AnUnansweredRequestIsKeptAndTheAuditStillFailsIt) {
  // A request nobody answers stays unacked in the service's group: never trimmed while the
  // settled one before it is, and the audit, reading the trimmed request queue, reports it.
  ASSERT_EQ(Call("first").error, CallError::kNone);
  auto c = Connect();
  ASSERT_TRUE(WaitFor([&] { return FirstKept(*c, RequestQueueName("kept")) == 1; }));
  io_.Run([&] { server_->Shutdown(); });
  RpcRequest r;
  r.request_id = 0xabc;
  r.deadline_us = UnixMicros() + 100'000;
  r.sent_us = UnixMicros();
  const std::string reply_queue = ReplyQueueName("keeper");  // reply_to is a view: keep it alive
  r.reply_to = reply_queue;
  std::string payload;
  EncodeRpcRequest(r, &payload);
  ASSERT_TRUE(c->Put(RequestQueueName("kept"), {{r.request_id, payload}}).ok());
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(FirstKept(*c, RequestQueueName("kept")), 1u);
  std::string out;
  int rc = testing::RunProgram({MESHQ_AUDIT_PATH, "--broker",
                                "127.0.0.1:" + std::to_string(broker_.port()), "--service", "kept"},
                               &out, 20s);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("UNANSWERED 0000000000000abc"), std::string::npos) << out;
}

}  // namespace
}  // namespace meshq::bridge
