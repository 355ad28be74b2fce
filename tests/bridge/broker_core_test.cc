// BrokerCore without sockets: consumer groups without members are forgotten after the group
// expiry (and resume from their committed offset when they come back), and a group still in use
// or with unpersisted state is kept.
#include "broker_core.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>

namespace meshq::bridge {
namespace {

using namespace std::chrono_literals;

class BrokerCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/broker-core-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    StoreOptions o;
    o.dir = dir_;
    ASSERT_TRUE(QueueStore::Open(o, &store_).ok());
    BrokerOptions b;
    b.dir = dir_;
    b.group_expiry = 100ms;
    b.offset_commit_interval = 1h;  // rounds run when the test says
    core_ = std::make_unique<BrokerCore>(store_.get(), b, false, &metrics_);
    ASSERT_TRUE(core_->Recover().ok());
  }
  void TearDown() override {
    core_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
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

  std::string dir_;
  MetricsRegistry registry_;
  BrokerMetrics metrics_{&registry_};
  std::unique_ptr<QueueStore> store_;
  std::unique_ptr<BrokerCore> core_;
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

}  // namespace
}  // namespace meshq::bridge
