// The broker end to end: a real meshq-broker process on an ephemeral loopback port, driven
// through BlockingBrokerClient (and a raw socket for malformed input).
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "broker_process.h"
#include "child_process_usage.h"
#include "io_thread.h"
#include "meshq/bridge/blocking_broker_client.h"
#include "meshq/bridge/broker_client.h"
#include "meshq/bridge/broker_protocol.h"
#include "meshq/bridge/frame.h"
#include "meshq/queue_store.h"

namespace meshq::bridge {
namespace {

using testing::BrokerProcess;
using namespace std::chrono_literals;

std::vector<std::pair<uint64_t, std::string>> Messages(int n, const std::string& prefix) {
  std::vector<std::pair<uint64_t, std::string>> out;
  for (int i = 0; i < n; ++i) out.emplace_back(0, prefix + std::to_string(i));
  return out;
}

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.Start()); }

  std::unique_ptr<BlockingBrokerClient> Connect() {
    auto c = std::make_unique<BlockingBrokerClient>(broker_.address());
    EXPECT_TRUE(c->Connect(5s).ok());
    return c;
  }

  BrokerProcess broker_;
};

TEST_F(BrokerTest, PutThenGetReturnsMessagesInOrderWithOffsets) {
  auto c = Connect();
  std::vector<PutStatus> results;
  ASSERT_TRUE(c->Put("orders", Messages(5, "m"), 0, &results).ok());
  ASSERT_EQ(results.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(results[i].offset, i);
  ASSERT_TRUE(c->Put("orders", Messages(2, "n"), kPutFlagFlush, &results).ok());
  EXPECT_EQ(results[0].offset, 5u);
  std::vector<OwnedMessage> got;
  uint64_t size = 0;
  ASSERT_TRUE(c->Get("orders", 3, 10, &got, &size).ok());
  EXPECT_EQ(size, 7u);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].offset, 3u);
  EXPECT_EQ(got[0].payload, "m3");
  EXPECT_EQ(got[3].payload, "n1");
  ASSERT_TRUE(c->Get("no-such-queue", 0, 10, &got).ok());
  EXPECT_TRUE(got.empty());
}

TEST_F(BrokerTest, StatsReportTheStoreAndTheBroker) {
  auto c = Connect();
  BrokerStats before;
  ASSERT_TRUE(c->Stats(&before).ok());
  ASSERT_TRUE(c->Put("counted", Messages(3, "m"), kPutFlagFlush).ok());
  std::vector<OwnedMessage> got;
  ASSERT_TRUE(c->GroupFetch("counted", "g", 10, 0, &got).ok());
  BrokerStats after;
  ASSERT_TRUE(c->Stats(&after).ok());
  EXPECT_EQ(StatValue(after, "messages"), StatValue(before, "messages") + 3);
  EXPECT_EQ(StatValue(after, "queues"), StatValue(before, "queues") + 1);
  EXPECT_GT(StatValue(after, "index_bytes"), 0u);
  EXPECT_GT(StatValue(after, "segment_bytes"), 0u);
  EXPECT_EQ(StatValue(after, "groups"), StatValue(before, "groups") + 1);
}

TEST_F(BrokerTest, BadQueueNameIsInvalidArgument) {
  auto c = Connect();
  EXPECT_TRUE(c->Put("", Messages(1, "x")).IsInvalidArgument());
  EXPECT_TRUE(c->Put(std::string(300, 'q'), Messages(1, "x")).IsInvalidArgument());
}

TEST_F(BrokerTest, FetchWaitsAndWakesWhenTheQueueGrows) {
  auto consumer = Connect();
  auto producer = Connect();
  std::vector<OwnedMessage> got;
  auto start = std::chrono::steady_clock::now();
  std::thread put([&] {
    std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(producer->Put("events", Messages(1, "e")).ok());
  });
  ASSERT_TRUE(consumer->Fetch("events", 0, 10, 10000, &got).ok());
  auto waited = std::chrono::steady_clock::now() - start;
  put.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "e0");
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 5s) << "woken by the put, not by the 10 s wait";
}

TEST_F(BrokerTest, FlushedPutsAndSyncAcksDoNotWaitForTheCommitCycle) {
  // The committer also runs every --commit-interval-ms; a FLUSH or WRITTEN put or a SYNC ack must
  // start a Flush at once, not ride on the next cycle (5 s here; a Flush takes milliseconds).
  ASSERT_TRUE(broker_.Restart({"--commit-interval-ms", "5000"}));
  auto c = Connect();
  std::vector<std::chrono::steady_clock::duration> took;
  for (int i = 0; i < 12; ++i) {
    auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(c->Put("durable", Messages(1, "f"), i % 2 ? kPutFlagWritten : kPutFlagFlush).ok());
    std::vector<OwnedMessage> got;
    ASSERT_TRUE(c->GroupFetch("durable", "g", 1, 0, &got).ok());
    ASSERT_EQ(got.size(), 1u);
    ASSERT_TRUE(c->Ack("durable", "g", {got[0].offset}, /*sync=*/true).ok());
    took.push_back(std::chrono::steady_clock::now() - start);
  }
  std::sort(took.begin(), took.end());
  EXPECT_LT(took[took.size() / 2], 1s) << "a Flush waited for the committer's periodic cycle";
}

TEST_F(BrokerTest, ACommitLingerHoldsAcknowledgementsToShareOneFlush) {
  // 200 ms: far above a Flush's and a put's own time, so the bounds below are about the linger.
  constexpr auto kLinger = 200ms;
  ASSERT_TRUE(broker_.Restart({"--commit-linger-us", "200000"}));
  auto c = Connect();
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c->Put("lingered", Messages(1, "a"), kPutFlagWritten).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, kLinger)
      << "acknowledged before the linger ended";
  // Readable at once, whatever the acknowledgement waits for.
  std::vector<OwnedMessage> got;
  ASSERT_TRUE(c->Get("lingered", 0, 10, &got).ok());
  EXPECT_EQ(got.size(), 1u);

  // Eight producers at once: one round (or two, if one arrives while the first is lingering
  // past its start), not eight rounds one after another.
  constexpr int kProducers = 8;
  std::vector<std::unique_ptr<BlockingBrokerClient>> clients;
  for (int i = 0; i < kProducers; ++i) clients.push_back(Connect());
  std::vector<std::thread> producers;
  std::atomic<int> ok{0};
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < kProducers; ++i) {
    producers.emplace_back([&, i] {
      if (clients[i]->Put("lingered", Messages(1, "p"), kPutFlagFlush).ok()) ++ok;
    });
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(ok.load(), kProducers);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4 * kLinger)
      << "the producers' Flushes did not share a linger";

  // Without a linger a WRITTEN put does not wait for one (the default).
  ASSERT_TRUE(broker_.Restart({}));
  c = Connect();
  start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c->Put("lingered", Messages(1, "b"), kPutFlagWritten).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, kLinger);
}

TEST_F(BrokerTest, FetchAnswersEmptyWhenTheWaitEnds) {
  auto c = Connect();
  std::vector<OwnedMessage> got{{}};
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c->Fetch("quiet", 0, 10, 150, &got).ok());
  EXPECT_TRUE(got.empty());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 140ms);
}

TEST_F(BrokerTest, CompetingConsumersReceiveDistinctMessages) {
  auto producer = Connect();
  ASSERT_TRUE(producer->Put("work", Messages(300, "w")).ok());
  std::vector<std::set<uint64_t>> seen(3);
  std::vector<std::thread> consumers;
  for (int i = 0; i < 3; ++i) {
    consumers.emplace_back([&, i] {
      auto c = Connect();
      std::vector<OwnedMessage> got;
      for (;;) {
        ASSERT_TRUE(c->GroupFetch("work", "g", 7, 200, &got).ok());
        if (got.empty()) return;
        std::vector<uint64_t> offsets;
        for (auto& m : got) {
          EXPECT_EQ(m.payload, "w" + std::to_string(m.offset));
          seen[i].insert(m.offset);
          offsets.push_back(m.offset);
        }
        ASSERT_TRUE(c->Ack("work", "g", offsets, false).ok());
      }
    });
  }
  for (auto& t : consumers) t.join();
  std::set<uint64_t> all;
  size_t total = 0;
  for (auto& s : seen) {
    total += s.size();
    all.insert(s.begin(), s.end());
  }
  EXPECT_EQ(total, 300u) << "a message went to two consumers";
  EXPECT_EQ(all.size(), 300u) << "a message went to none";
}

TEST_F(BrokerTest, UnackedMessagesOfAClosedConnectionAreRedelivered) {
  auto producer = Connect();
  ASSERT_TRUE(producer->Put("jobs", Messages(4, "j")).ok());
  auto first = Connect();
  std::vector<OwnedMessage> got;
  ASSERT_TRUE(first->GroupFetch("jobs", "g", 4, 0, &got).ok());
  ASSERT_EQ(got.size(), 4u);
  ASSERT_TRUE(first->Ack("jobs", "g", {0, 2}, false).ok());
  first->Close();
  auto second = Connect();
  ASSERT_TRUE(second->GroupFetch("jobs", "g", 10, 2000, &got).ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].offset, 1u);
  EXPECT_EQ(got[1].offset, 3u);
}

TEST_F(BrokerTest, AClientThatDoesNotReadIsNotBufferedWithoutBound) {
  auto c = Connect();
  ASSERT_TRUE(c->Put("tiny", Messages(1, "t")).ok());
  // 1M pipelined GETs (~38 MB) from a client that never reads the answers (~40 MB of them). A
  // broker that kept reading would take them all; one that stops reading at its outbound limit
  // (8 MB) leaves the rest in the sockets, and the sender blocks once their buffers are full.
  std::string requests, body;
  EncodeReadRequest({"tiny", 0, 1, 0}, &body);
  for (uint64_t i = 1; i <= 1000000; ++i) {
    FrameHeader h;
    h.type = FrameType::kGet;
    h.request_id = i;
    AppendFrame(h, body, &requests);
  }
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), broker_.port()});
  s.non_blocking(true);
  size_t sent = 0;
  auto until = std::chrono::steady_clock::now() + 5s;
  while (sent < requests.size() && std::chrono::steady_clock::now() < until) {
    boost::system::error_code ec;
    sent += s.write_some(boost::asio::buffer(requests.data() + sent, requests.size() - sent), ec);
    if (ec == boost::asio::error::would_block) std::this_thread::sleep_for(5ms);
  }
  std::printf("sent %zu of %zu bytes of requests to a broker whose answers are not read\n", sent,
              requests.size());
  EXPECT_LT(sent, requests.size() / 2) << "the broker kept reading a client that does not read";
  // Other clients are still served meanwhile.
  std::vector<OwnedMessage> got;
  EXPECT_TRUE(c->Get("tiny", 0, 1, &got).ok());
  EXPECT_EQ(got.size(), 1u);
}

TEST_F(BrokerTest, GroupOffsetsSurviveCleanAndHardRestarts) {
  {
    auto c = Connect();
    ASSERT_TRUE(c->Put("log", Messages(10, "l"), kPutFlagFlush).ok());
    std::vector<OwnedMessage> got;
    ASSERT_TRUE(c->GroupFetch("log", "readers", 6, 0, &got).ok());
    ASSERT_EQ(got.size(), 6u);
    uint64_t committed = 0;
    ASSERT_TRUE(c->Ack("log", "readers", {0, 1, 2, 3, 4, 5}, false, &committed).ok());
    EXPECT_EQ(committed, 6u);
  }
  EXPECT_EQ(broker_.Stop(SIGTERM), 0) << "a clean shutdown exits 0";
  ASSERT_TRUE(broker_.Start());  // offsets were persisted on the way down
  {
    auto c = Connect();
    std::vector<OwnedMessage> got;
    ASSERT_TRUE(c->GroupFetch("log", "readers", 2, 0, &got).ok());
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].offset, 6u);
    ASSERT_TRUE(c->Ack("log", "readers", {6, 7}, true).ok());  // durable when answered
  }
  broker_.Stop(SIGKILL);
  ASSERT_TRUE(broker_.Start());
  auto c = Connect();
  std::vector<OwnedMessage> got;
  ASSERT_TRUE(c->GroupFetch("log", "readers", 10, 0, &got).ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].offset, 8u);
  EXPECT_EQ(got[1].payload, "l9");
}

// FLUSH (synced) and WRITTEN (written to the OS, no fdatasync) acknowledgements both survive the
// broker's kill -9; the queues are new, so WRITTEN also covers a queue created since the last
// synced Flush.
TEST_F(BrokerTest, FlushAndWrittenAcknowledgedPutsSurviveKill9) {
  const int kPuts = 50;
  const std::vector<std::pair<std::string, uint8_t>> queues = {{"durable", kPutFlagFlush},
                                                               {"written", kPutFlagWritten}};
  {
    auto c = Connect();
    for (int i = 0; i < kPuts; ++i) {
      for (const auto& [queue, flag] : queues) {
        ASSERT_TRUE(c->Put(queue, Messages(3, "d" + std::to_string(i) + "."), flag).ok());
      }
    }
  }
  broker_.Stop(SIGKILL);
  ASSERT_TRUE(broker_.Start());
  auto c = Connect();
  for (const auto& [queue, flag] : queues) {
    SCOPED_TRACE(queue);
    std::vector<OwnedMessage> got;
    uint64_t size = 0;
    ASSERT_TRUE(c->Get(queue, 0, 1000, &got, &size).ok());
    EXPECT_EQ(size, 3u * kPuts);
    ASSERT_EQ(got.size(), 3u * kPuts);
    EXPECT_EQ(got.back().payload, "d49.2");
  }
}

// WRITTEN puts cost no fdatasync, but the next offset cycle (20 ms) syncs them: the store opened
// after a kill -9 finds them in its checkpoint instead of by scanning past it (what a machine
// crash could take stays within a cycle), also with no consumer group to force a sync.
TEST_F(BrokerTest, WrittenPutsAreSyncedWithinACommitCycle) {
  {
    auto c = Connect();
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(
          c->Put("written", Messages(3, "w" + std::to_string(i) + "."), kPutFlagWritten).ok());
    }
  }
  std::this_thread::sleep_for(500ms);
  broker_.Stop(SIGKILL);
  StoreOptions o;
  o.dir = broker_.dir() + "/store";
  std::unique_ptr<QueueStore> store;
  Status s = QueueStore::Open(o, &store);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(store->QueueSize("written"), 60u);
  EXPECT_EQ(store->GetStats().recovered_blocks, 0u)
      << "WRITTEN data was still unsynced past the checkpoint 500 ms later";
}

// A full disk (here: every file the broker writes capped at 4 MiB) fails the PUTs that need a
// Flush with an I/O error answer; the broker stays up and serves reads, and after a restart with
// room again every acknowledged message is there, in order, and writing works again.
TEST_F(BrokerTest, AFullDiskFailsFlushedPutsWithAnIoErrorAndLosesNothingAcknowledged) {
  broker_.Stop(SIGKILL);
  broker_.set_file_size_limit(4u << 20);
  ASSERT_TRUE(broker_.Start());
  const std::string payload(1000, 'f');
  auto message = [&](size_t i) { return std::to_string(i) + ":" + payload; };
  size_t acked = 0;
  size_t sent = 0;
  Status failed;
  {
    auto c = Connect();
    // 64 KiB a PUT: the queue's segment file reaches the cap within ~64 PUTs.
    for (int put = 0; put < 400 && failed.ok(); ++put) {
      std::vector<std::pair<uint64_t, std::string>> batch;
      for (int i = 0; i < 64; ++i) batch.emplace_back(0, message(sent++));
      failed = c->Put("full", batch, kPutFlagFlush);
      if (failed.ok()) acked = sent;
    }
    ASSERT_FALSE(failed.ok()) << "no PUT failed with every file capped at 4 MiB";
    EXPECT_TRUE(failed.IsIOError()) << failed.ToString();
    EXPECT_GT(acked, 0u);
    // Still serving: the acknowledged messages read back, and later Flushes fail the same way
    // instead of hanging or taking the broker down.
    std::vector<OwnedMessage> got;
    uint64_t size = 0;
    ASSERT_TRUE(c->Get("full", 0, 100, &got, &size).ok());
    EXPECT_GE(size, acked);
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got[0].payload, message(0));
    Status again = c->Put("full", {{0, "after"}}, kPutFlagFlush);
    EXPECT_TRUE(again.IsIOError()) << again.ToString();
  }
  ASSERT_TRUE(broker_.running());
  EXPECT_EQ(broker_.Stop(SIGKILL), SIGKILL);  // a hard stop: only what was made durable counts

  broker_.set_file_size_limit(0);
  ASSERT_TRUE(broker_.Start());
  auto c = Connect();
  std::vector<OwnedMessage> all;
  uint64_t size = 0;
  for (uint64_t offset = 0;;) {
    std::vector<OwnedMessage> got;
    ASSERT_TRUE(c->Get("full", offset, 1000, &got, &size).ok());
    if (got.empty()) break;
    offset += got.size();
    for (auto& m : got) all.push_back(std::move(m));
  }
  // Every acknowledged message, and whatever else survived is the next ones sent, in order.
  ASSERT_GE(all.size(), acked);
  ASSERT_LE(all.size(), sent);
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(all[i].offset, i);
    ASSERT_EQ(all[i].payload, message(i)) << "offset " << i;
  }
  ASSERT_TRUE(c->Put("full", {{0, "room again"}}, kPutFlagFlush).ok());
}

TEST_F(BrokerTest, DedupeIdsStoreARetriedMessageOnce) {
  auto c = Connect();
  std::vector<PutStatus> results;
  ASSERT_TRUE(c->Put("idem", {{77, "first"}, {78, "other"}}, kPutFlagFlush, &results).ok());
  EXPECT_EQ(results[0].outcome, PutOutcome::kStored);
  ASSERT_TRUE(c->Put("idem", {{77, "retry"}}, 0, &results).ok());
  EXPECT_EQ(results[0].outcome, PutOutcome::kDuplicate);
  // The window is journaled: it survives a hard restart.
  broker_.Stop(SIGKILL);
  ASSERT_TRUE(broker_.Start());
  c = Connect();
  ASSERT_TRUE(c->Put("idem", {{78, "retry"}}, 0, &results).ok());
  EXPECT_EQ(results[0].outcome, PutOutcome::kDuplicate);
  std::vector<OwnedMessage> got;
  uint64_t size = 0;
  ASSERT_TRUE(c->Get("idem", 0, 10, &got, &size).ok());
  EXPECT_EQ(size, 2u);
}

TEST_F(BrokerTest, RepliesRacingWithOneDedupeIdStoreOneReplyPerId) {
  // Responders (or one replaying) putting the reply to the same request at the same moment,
  // from connections spread over the broker's io threads: each id is stored once, every other
  // put is told where that one reply is.
  ASSERT_TRUE(broker_.Restart({"--threads", "4", "--unbound-replies"}));
  constexpr int kPutters = 6;
  constexpr uint64_t kIds = 400;
  constexpr uint64_t kPerPut = 8;
  const std::string queue = "rpc.rep.racer";
  std::vector<std::unique_ptr<BlockingBrokerClient>> clients;
  for (int i = 0; i < kPutters; ++i) clients.push_back(Connect());
  std::vector<std::vector<std::pair<uint64_t, PutStatus>>> outcomes(kPutters);
  std::atomic<int> ready{0};
  std::vector<std::thread> putters;
  for (int t = 0; t < kPutters; ++t) {
    putters.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < kPutters) std::this_thread::yield();
      for (uint64_t first = 1; first <= kIds; first += kPerPut) {
        std::vector<std::pair<uint64_t, std::string>> batch;
        for (uint64_t id = first; id < first + kPerPut; ++id) {
          batch.emplace_back(id, "reply " + std::to_string(id) + " from " + std::to_string(t));
        }
        // Half the putters ask for a Flush: the group commit must not open a window either.
        uint8_t flags = kPutFlagReply | (t % 2 ? kPutFlagFlush : 0);
        std::vector<PutStatus> results;
        ASSERT_TRUE(clients[t]->Put(queue, batch, flags, &results).ok());
        ASSERT_EQ(results.size(), batch.size());
        for (size_t i = 0; i < batch.size(); ++i)
          outcomes[t].emplace_back(batch[i].first, results[i]);
      }
    });
  }
  for (auto& t : putters) t.join();

  std::vector<OwnedMessage> stored;
  uint64_t size = 0;
  ASSERT_TRUE(clients[0]->Get(queue, 0, 4096, &stored, &size).ok());
  EXPECT_EQ(size, kIds) << "one stored reply per id";
  std::map<uint64_t, uint64_t> offset_of;
  for (const OwnedMessage& m : stored) {
    EXPECT_TRUE(offset_of.emplace(m.dedupe_id, m.offset).second)
        << "id " << m.dedupe_id << " twice";
  }
  EXPECT_EQ(offset_of.size(), kIds);
  std::map<uint64_t, int> stored_by_putters;
  for (auto& per_putter : outcomes) {
    for (auto& [id, r] : per_putter) {
      if (r.outcome == PutOutcome::kStored) {
        ++stored_by_putters[id];
      } else {
        EXPECT_EQ(r.outcome, PutOutcome::kReplied) << "id " << id;
      }
      EXPECT_EQ(r.offset, offset_of[id]) << "id " << id;
    }
  }
  for (uint64_t id = 1; id <= kIds; ++id) EXPECT_EQ(stored_by_putters[id], 1) << "id " << id;
  // A retried request with one of those ids is settled: not stored, not handed out again.
  std::vector<PutStatus> results;
  ASSERT_TRUE(clients[1]->Put("rpc.req.racer", {{7, "request 7 again"}}, 0, &results).ok());
  EXPECT_EQ(results[0].outcome, PutOutcome::kReplied);
  EXPECT_EQ(results[0].offset, offset_of[7]);
}

TEST_F(BrokerTest, OnePutsRepliesAreSettledAtOnceAndJournaledTogether) {
  // A PUT's dedupe records share one journal message: an id repeated within the PUT must still
  // see the first copy, and every record of the message must come back after a hard restart.
  // The replies are put without their requests being handed out: the dedupe rules alone.
  ASSERT_TRUE(broker_.Restart({"--unbound-replies"}));
  auto c = Connect();
  std::vector<PutStatus> results;
  ASSERT_TRUE(c->Put("rpc.rep.one", {{5, "reply 5"}, {6, "reply 6"}, {5, "reply 5 again"}},
                     kPutFlagReply | kPutFlagFlush, &results)
                  .ok());
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].outcome, PutOutcome::kStored);
  EXPECT_EQ(results[1].outcome, PutOutcome::kStored);
  EXPECT_EQ(results[2].outcome, PutOutcome::kReplied);
  EXPECT_EQ(results[2].offset, results[0].offset);
  broker_.Stop(SIGKILL);
  ASSERT_TRUE(broker_.Start());
  c = Connect();
  ASSERT_TRUE(
      c->Put("rpc.req.one", {{6, "request 6 again"}, {5, "request 5 again"}}, 0, &results).ok());
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].outcome, PutOutcome::kReplied);
  EXPECT_EQ(results[0].offset, 1u);
  EXPECT_EQ(results[1].outcome, PutOutcome::kReplied);
  EXPECT_EQ(results[1].offset, 0u);
}

TEST_F(BrokerTest, DedupeJournalRollsOverAndKeepsTheNewestIdsAcrossARestart) {
  const std::vector<std::string> args = {"--dedupe-window", "4", "--dedupe-min-age-ms", "0"};
  ASSERT_TRUE(broker_.Restart(args));
  auto c = Connect();
  for (uint64_t id = 1; id <= 10; ++id) {
    ASSERT_TRUE(c->Put("roll", {{id, "v" + std::to_string(id)}}, kPutFlagFlush).ok());
  }
  broker_.Stop(SIGKILL);
  ASSERT_TRUE(broker_.Start(args));
  c = Connect();
  std::vector<PutStatus> results;
  ASSERT_TRUE(c->Put("roll", {{10, "again"}, {7, "again"}, {2, "again"}}, 0, &results).ok());
  EXPECT_EQ(results[0].outcome, PutOutcome::kDuplicate);
  EXPECT_EQ(results[1].outcome, PutOutcome::kDuplicate);
  EXPECT_EQ(results[2].outcome, PutOutcome::kStored) << "id 2 is older than the window";
  EXPECT_TRUE(c->Put("__meshq.dedupe.0", {{0, "forged"}}).IsInvalidArgument());
}

// One PUT of more new ids than the window holds cannot push out the ids of the last
// --dedupe-min-age-ms: it is refused once the window is full, and a retry of an earlier id is
// still recognised.
TEST_F(BrokerTest, OneClientCannotFlushTheDedupeWindow) {
  ASSERT_TRUE(broker_.Restart({"--dedupe-window", "100", "--dedupe-min-age-ms", "60000"}));
  auto c = Connect();
  ASSERT_TRUE(c->Put("calls", {{1, "first"}}, kPutFlagWritten).ok());
  std::vector<std::pair<uint64_t, std::string>> flood;
  for (uint64_t id = 1000; id < 1300; ++id) flood.emplace_back(id, "flood");
  Status s = c->Put("calls", flood);
  EXPECT_TRUE(s.IsBusy()) << s.ToString();
  EXPECT_NE(s.ToString().find("dedupe window full"), std::string::npos) << s.ToString();
  std::vector<PutStatus> results;
  ASSERT_TRUE(c->Put("calls", {{1, "retry"}}, 0, &results).ok());
  EXPECT_EQ(results[0].outcome, PutOutcome::kDuplicate) << "the retry was stored twice";
  // 99 of the flood fitted (the window holds 100 ids); the rest were not stored.
  std::vector<OwnedMessage> got;
  uint64_t size = 0;
  ASSERT_TRUE(c->Get("calls", 0, 1000, &got, &size).ok());
  EXPECT_EQ(size, 100u);
}

// The committer's offset rounds visit only the groups whose offsets moved: a broker holding many
// groups and no client does no work per group (it walked every group every cycle: 200k groups
// kept an idle broker busy).
TEST_F(BrokerTest, AnIdleBrokerDoesNoWorkPerGroup) {
  constexpr int kGroups = 100'000;
  ASSERT_TRUE(broker_.Restart({"--commit-interval-ms", "5"}));
  {
    testing::IoThread io;
    auto client = BrokerClient::Create(io.io(), broker_.address());
    std::promise<void> up;
    io.Run([&] {
      client->SetConnectionCallback([&](bool connected) {
        if (connected) up.set_value();
      });
      client->Start();
      return 0;
    });
    ASSERT_EQ(up.get_future().wait_for(5s), std::future_status::ready);
    // Pipelined: one GROUP_FETCH per group, each making this connection a member.
    std::promise<void> all;
    int answered = 0, failed = 0;
    io.Run([&] {
      for (int i = 0; i < kGroups; ++i) {
        client->GroupFetch("many", "g" + std::to_string(i), 1, 0,
                           [&](const Status& s, const MessagesReply&) {
                             if (!s.ok()) ++failed;
                             if (++answered == kGroups) all.set_value();
                           });
      }
      return 0;
    });
    ASSERT_EQ(all.get_future().wait_for(60s), std::future_status::ready);
    EXPECT_EQ(failed, 0);
    io.Run([&] {
      client->Close();
      return 0;
    });
  }
  std::this_thread::sleep_for(200ms);
  auto cpu = [&] { return meshq::testing::CpuSeconds(broker_.pid()); };
  const double before = cpu();
  std::this_thread::sleep_for(1s);
  const double used = cpu() - before;
#if !defined(__SANITIZE_THREAD__)  // ThreadSanitizer's own background work is not the broker's
  EXPECT_LT(used, 0.1) << "CPU seconds in 1 s with " << kGroups << " idle groups";
#else
  (void)used;
#endif
}

TEST_F(BrokerTest, RequireConsumersRefusesAGroupWithoutMembers) {
  auto c = Connect();
  EXPECT_TRUE(
      c->Put("svc", Messages(1, "x"), kPutFlagRequireConsumers, nullptr, "g").IsUnavailable());
  auto member = Connect();
  std::vector<OwnedMessage> got;
  ASSERT_TRUE(member->GroupFetch("svc", "g", 1, 0, &got).ok());
  EXPECT_TRUE(c->Put("svc", Messages(1, "x"), kPutFlagRequireConsumers, nullptr, "g").ok());
}

// Writes raw bytes and reads what the broker answers until it closes the connection.
std::string RawExchange(uint16_t port, const std::string& bytes) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  boost::asio::write(s, boost::asio::buffer(bytes));
  std::string got;
  char buf[1024];
  boost::system::error_code ec;
  for (;;) {
    size_t n = s.read_some(boost::asio::buffer(buf), ec);
    if (ec) break;
    got.append(buf, n);
  }
  return got;
}

// Sends `bytes` (ending with a PING) on a fresh connection and returns the headers of the
// answers up to and including the PONG (answers come in order on one connection here).
std::vector<FrameHeader> ExchangeUntilPong(uint16_t port, const std::string& bytes) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  boost::asio::write(s, boost::asio::buffer(bytes));
  std::string in;
  std::vector<FrameHeader> frames;
  char buf[1024];
  while (frames.empty() || frames.back().type != FrameType::kPong) {
    size_t n = s.read_some(boost::asio::buffer(buf));
    in.append(buf, n);
    for (DecodeResult<Frame> d = DecodeFrame(in); d.ok(); d = DecodeFrame(in)) {
      frames.push_back(d.value.header);
      in.erase(0, d.consumed);
    }
  }
  return frames;
}

TEST_F(BrokerTest, AnAckWithNoReplyIsAnsweredOnlyWhenItFails) {
  auto consumer = Connect();
  ASSERT_TRUE(consumer->Put("acked", Messages(3, "a")).ok());
  std::vector<OwnedMessage> got;
  ASSERT_TRUE(consumer->GroupFetch("acked", "g", 10, 0, &got).ok());
  ASSERT_EQ(got.size(), 3u);

  std::string bytes, body;
  FrameHeader h;
  h.type = FrameType::kAck;
  h.flags = kAckFlagNoReply;
  h.request_id = 1;
  EncodeAckRequest(AckRequest{"acked", "g", {0, 1, 2}}, &body);
  AppendFrame(h, body, &bytes);
  h.request_id = 2;  // fails (no queue name): answered with an error
  body.clear();
  EncodeAckRequest(AckRequest{"", "g", {0}}, &body);
  AppendFrame(h, body, &bytes);
  h.type = FrameType::kPing;
  h.flags = 0;
  h.request_id = 3;
  AppendFrame(h, "", &bytes);
  std::vector<FrameHeader> frames = ExchangeUntilPong(broker_.port(), bytes);
  ASSERT_EQ(frames.size(), 2u) << "the successful ack was answered";
  EXPECT_EQ(frames[0].type, FrameType::kError);
  EXPECT_EQ(frames[0].request_id, 2u);
  EXPECT_EQ(frames[1].request_id, 3u);
  // It took effect all the same.
  uint64_t committed = 0;
  ASSERT_TRUE(consumer->Ack("acked", "g", {}, false, &committed).ok());
  EXPECT_EQ(committed, 3u);
}

TEST_F(BrokerTest, MalformedFramesGetAnErrorAndTheConnectionIsClosed) {
  std::string unknown(kFrameHeaderSize, '\0');
  unknown[4] = 0x42;
  DecodeResult<Frame> r;
  std::string answer = RawExchange(broker_.port(), unknown);
  r = DecodeFrame(answer);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.header.type, FrameType::kError);
  EXPECT_EQ(r.value.header.status, kStatusBadFrame);
  EXPECT_EQ(r.value.body, "unknown frame type");

  std::string oversized(kFrameHeaderSize, '\0');
  uint32_t big = kMaxFrameBody + 1;
  std::memcpy(oversized.data(), &big, 4);
  oversized[4] = static_cast<char>(FrameType::kPut);
  answer = RawExchange(broker_.port(), oversized);
  r = DecodeFrame(answer);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.header.type, FrameType::kError);
  EXPECT_EQ(r.value.body, "frame too large");

  // A truncated body inside a whole frame is an error answer to that request; the connection
  // stays usable for the next one.
  std::string bytes;
  FrameHeader h;
  h.type = FrameType::kGet;
  h.request_id = 5;
  AppendFrame(h, "\x05", &bytes);
  h.type = FrameType::kPing;
  h.request_id = 6;
  AppendFrame(h, "", &bytes);
  std::vector<FrameHeader> frames = ExchangeUntilPong(broker_.port(), bytes);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].type, FrameType::kError);
  EXPECT_EQ(frames[0].request_id, 5u);
  EXPECT_EQ(frames[0].status, static_cast<uint8_t>(Status::Code::kCorruption));
  EXPECT_EQ(frames[1].type, FrameType::kPong);
  EXPECT_EQ(frames[1].request_id, 6u);
}

TEST(BrokerFlags, HelpListsEveryFlagWithItsDefaultAndUnknownFlagsAreRefused) {
  std::string out;
  ASSERT_EQ(testing::RunProgram({MESHQ_BROKER_PATH, "--help"}, &out, 10s), 0) << out;
  for (const char* flag :
       {"--dir DIR", "--bind ADDR", "--port N", "--threads N", "--dedupe-window N",
        "--responder-grace-ms N", "--commit-interval-ms N", "--commit-linger-us N"}) {
    EXPECT_NE(out.find(flag), std::string::npos) << flag << " in:\n" << out;
  }
  EXPECT_NE(out.find("(default 262144)"), std::string::npos) << out;
  EXPECT_NE(out.find("(default 127.0.0.1)"), std::string::npos) << out;

  out.clear();
  const int rc = testing::RunProgram(
      {"/bin/sh", "-c", "exec \"$0\" --bogus 1 2>&1", MESHQ_BROKER_PATH}, &out, 10s);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("unknown flag --bogus"), std::string::npos) << out;
}

TEST(BrokerFlags, BadNumbersAreRefusedWithAMessage) {
  const std::string dir = ::testing::TempDir() + "/broker-flags";
  const std::vector<std::pair<std::string, std::string>> bad = {{"--port", "abc"},
                                                                {"--port", "70000"},
                                                                {"--threads", "0"},
                                                                {"--threads", "2x"},
                                                                {"--dedupe-window", "-1"},
                                                                {"--commit-interval-ms", ""},
                                                                {"--responder-grace-ms", "1e3"},
                                                                {"--commit-linger-us", "-5"}};
  for (const auto& [flag, value] : bad) {
    std::string out;
    // The message goes to stderr: the shell folds it into what RunProgram captures.
    const int rc = testing::RunProgram(
        {"/bin/sh", "-c", std::string("exec \"$0\" --dir \"$1\" \"$2\" \"$3\" 2>&1"),
         MESHQ_BROKER_PATH, dir, flag, value},
        &out, 10s);
    EXPECT_EQ(rc, 2) << flag << " " << value << ": " << out;
    EXPECT_NE(out.find("bad " + flag), std::string::npos) << flag << " " << value << ": " << out;
  }
}

}  // namespace
}  // namespace meshq::bridge
