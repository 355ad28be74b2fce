// BrokerCore without sockets: consumer groups without members are forgotten after the group
// expiry (and resume from their committed offset when they come back), and a group still in use
// or with unpersisted state is kept. Retention rounds: each visits every queue, a queue nobody
// wrote since the start is found in the store's catalogue and trimmed too, and a queue written
// with a group commit after every message keeps its allocated bytes bounded.
#include "broker_core.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>

namespace meshq::bridge {
namespace {

using namespace std::chrono_literals;

// A store in a fresh directory, and the core the test starts on it.
class CoreOnAStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/broker-core-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    StoreOptions o;
    o.dir = dir_;
    ASSERT_TRUE(QueueStore::Open(o, &store_).ok());
  }
  void TearDown() override {
    core_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  MetricsRegistry registry_;
  BrokerMetrics metrics_{&registry_};
  std::unique_ptr<QueueStore> store_;
  std::unique_ptr<BrokerCore> core_;
};

class BrokerCoreTest : public CoreOnAStoreTest {
 protected:
  void SetUp() override {
    CoreOnAStoreTest::SetUp();
    BrokerOptions b;
    b.dir = dir_;
    b.group_expiry = 100ms;
    b.offset_commit_interval = 1h;  // rounds run when the test says
    core_ = std::make_unique<BrokerCore>(store_.get(), b, false, &metrics_);
    ASSERT_TRUE(core_->Recover().ok());
  }
  void PutPlain(int n) {
    std::vector<std::string> payloads;
    for (int i = 0; i < n; ++i) payloads.push_back("m" + std::to_string(i));
    PutRequest put{"jobs", {}, {}};
    for (auto& p : payloads) put.messages.push_back({0, p});
    std::string body;
    bool no_consumers = false, unbound = false;
    ASSERT_TRUE(core_->Put({1, {}, 0}, put, 0, &body, &no_consumers, &unbound).ok());
  }
  // Waits out the expiry (100 ms), then lets the broker forget what is due.
  void ExpireAfterTheExpiry() {
    std::this_thread::sleep_for(150ms);
    core_->ExpireIdleGroups(std::chrono::steady_clock::now());
  }
  uint32_t Fetch(ConnectionId conn, const std::string& group, std::vector<uint64_t>* offsets) {
    std::string body;
    uint32_t count = 0;
    EXPECT_TRUE(core_->GroupFetch({conn, {}, 0}, {"jobs", group, 100, 0}, &body, &count).ok());
    MessagesReply reply;
    EXPECT_TRUE(DecodeMessagesReply(body, &reply).ok());
    offsets->clear();
    for (const Message& m : reply.messages) offsets->push_back(m.offset);
    return count;
  }
};

TEST_F(BrokerCoreTest, AGroupWithoutMembersIsForgottenAndResumesWhereItWas) {
  PutPlain(5);
  std::vector<uint64_t> got;
  ASSERT_EQ(Fetch(1, "g", &got), 5u);
  uint64_t committed = 0;
  ASSERT_TRUE(core_->Ack({"jobs", "g", {0, 1, 2}}, false, &committed).ok());
  EXPECT_EQ(committed, 3u);
  core_->ConnectionClosed(1);  // 3 and 4 are handed back
  ASSERT_TRUE(core_->CommitRound(std::nullopt).ok());
  ExpireAfterTheExpiry();
  EXPECT_EQ(core_->group_count(), 1u) << "forgotten with messages handed back and not acked";
  ASSERT_EQ(Fetch(2, "g", &got), 2u);
  ASSERT_TRUE(core_->Ack({"jobs", "g", got}, false, &committed).ok());
  core_->ConnectionClosed(2);
  ExpireAfterTheExpiry();
  EXPECT_EQ(core_->group_count(), 1u) << "forgotten before its offset was written";
  ASSERT_TRUE(core_->CommitRound(std::nullopt).ok());
  ExpireAfterTheExpiry();
  EXPECT_EQ(core_->group_count(), 0u);
  // Back again: from its committed offset, nothing delivered twice.
  PutPlain(1);
  ASSERT_EQ(Fetch(3, "g", &got), 1u);
  EXPECT_EQ(got[0], 5u);
}

TEST_F(BrokerCoreTest, AGroupWithAMemberIsKept) {
  PutPlain(1);
  std::vector<uint64_t> got;
  ASSERT_EQ(Fetch(1, "kept", &got), 1u);
  ASSERT_EQ(Fetch(2, "gone", &got), 1u);
  uint64_t committed = 0;
  ASSERT_TRUE(core_->Ack({"jobs", "gone", {0}}, false, &committed).ok());
  core_->ConnectionClosed(2);
  ASSERT_TRUE(core_->CommitRound(std::nullopt).ok());
  ExpireAfterTheExpiry();
  EXPECT_EQ(core_->group_count(), 1u);
  // Not before its time either.
  core_->ConnectionClosed(1);
  ASSERT_TRUE(core_->Ack({"jobs", "kept", {0}}, false, &committed).ok());
  ASSERT_TRUE(core_->CommitRound(std::nullopt).ok());
  core_->ExpireIdleGroups(std::chrono::steady_clock::now());
  EXPECT_EQ(core_->group_count(), 1u);
}

// A broker with a 40 ms age retention whose sweeper is stopped: the test runs the rounds.
class RetentionCoreTest : public CoreOnAStoreTest {
 protected:
  void StartBroker(bool own_rounds = false) {
    BrokerOptions b;
    b.dir = dir_;
    b.retention = 40ms;
    b.retention_round = 20ms;
    core_ = std::make_unique<BrokerCore>(store_.get(), b, true, &metrics_);
    ASSERT_TRUE(core_->Recover().ok());
    if (!own_rounds) core_->sweeper().Stop();  // later posts run on the caller's thread
  }
  void Put(const std::string& queue, const std::string& payload) {
    PutRequest put{queue, {}, {{0, payload}}};
    std::string body;
    bool no_consumers = false, unbound = false;
    ASSERT_TRUE(core_->Put({1, {}, 0}, put, 0, &body, &no_consumers, &unbound).ok());
  }
  uint64_t Stat(const std::string& name) {
    for (const auto& [n, v] : core_->Stats()) {
      if (n == name) return v;
    }
    ADD_FAILURE() << "no " << name << " in STATS";
    return 0;
  }
  void Round() {
    // Past the marks' gap (20 ms, 3/4 of it suffices) and the retention (40 ms) of the last.
    std::this_thread::sleep_for(50ms);
    core_->RetentionRound(std::chrono::steady_clock::now());
  }
};

TEST_F(RetentionCoreTest, EachRoundMarksAndTrimsEveryQueue) {
  StartBroker();
  // Spread over all 64 stripes (a round used to visit 16).
  constexpr int kQueues = 300;
  auto name = [](int i) { return "q" + std::to_string(i); };
  for (int i = 0; i < kQueues; ++i) Put(name(i), "a");
  Round();  // marks 1 in each
  for (int i = 0; i < kQueues; ++i) Put(name(i), "b");
  Round();  // the mark at 1 has aged: every queue is trimmed to 1 (and 2 is marked)
  for (int i = 0; i < kQueues; ++i) ASSERT_EQ(store_->QueueStart(name(i)), 1u) << name(i);
  Round();  // one round later, one step further
  for (int i = 0; i < kQueues; ++i) ASSERT_EQ(store_->QueueStart(name(i)), 2u) << name(i);
  EXPECT_EQ(Stat("trimmed_messages"), 2u * kQueues);
  EXPECT_GE(Stat("retained_queues"), static_cast<uint64_t>(kQueues));  // and the journal's
}

TEST_F(RetentionCoreTest, AQueueUntouchedSinceTheStartIsFoundAndTrimmed) {
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store_->Put("before", "m" + std::to_string(i)).ok());
  ASSERT_TRUE(store_->Put("empty-before", "x").ok());
  ASSERT_TRUE(store_->Trim("empty-before", 1).ok());
  ASSERT_TRUE(store_->Flush().ok());
  StartBroker();
  Put("written", "w");
  Round();
  EXPECT_EQ(Stat("discovered_queues"), 1u) << "only the queue that holds messages";
  EXPECT_EQ(store_->QueueStart("before"), 0u) << "aged from when it was found";
  Round();
  EXPECT_EQ(store_->QueueStart("before"), 10u);
  EXPECT_EQ(store_->QueueStart("written"), 1u);
  Round();
  EXPECT_EQ(Stat("discovered_queues"), 1u) << "tracked once";
}

TEST_F(RetentionCoreTest, AllocatedBytesStayBoundedUnderRetention) {
  StartBroker(/*own_rounds=*/true);
  // Every message its own group commit: a sealed block each, as the RPC queues under load.
  const std::string payload(100, 'p');
  auto flush = [&] {
    std::promise<Status> done;
    auto answered = done.get_future();
    core_->committer().RequestFlush([&done](Status st) { done.set_value(st); }, FlushMode::kWrite);
    return answered.get();
  };
  std::vector<std::pair<uint64_t, uint64_t>> samples;  // allocated, written
  const auto start = std::chrono::steady_clock::now();
  auto next_sample = start + 500ms;
  while (std::chrono::steady_clock::now() - start < 2500ms) {
    Put("busy", payload);
    ASSERT_TRUE(flush().ok());
    if (std::chrono::steady_clock::now() >= next_sample) {
      const StoreStats st = store_->GetStats();
      samples.emplace_back(st.allocated_bytes, st.bytes_written);
      next_sample += 500ms;
    }
  }
  const StoreStats st = store_->GetStats();
  ASSERT_GE(samples.size(), 3u);
  // What the last 40 ms (plus a mark's gap and a round or two) wrote stays, not the run's
  // total: from 0.5 s on, at most half of what was written, at the end at most a quarter (the
  // blocks per second follow the machine's load here, so no tighter bound holds).
  for (const auto& [allocated, written] : samples) {
    EXPECT_LE(2 * allocated, written) << "allocated " << allocated << " written " << written;
  }
  EXPECT_LE(4 * st.allocated_bytes, st.bytes_written)
      << "written " << st.bytes_written << " allocated " << st.allocated_bytes;
  EXPECT_GT(st.released_blocks, 0u);
  EXPECT_GT(Stat("punched_bytes"), 0u);
}

}  // namespace
}  // namespace meshq::bridge
