// Assignment end to end (docs/broker-protocol.md, "Assignment"): a request handed to an
// assigning member goes back to that member, and no other, after its connection closes or the
// broker is killed, until the redelivery hold runs out; a release hands it to anyone at once.
#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "broker_process.h"
#include "meshq/bridge/blocking_broker_client.h"
#include "meshq/bridge/frame.h"

namespace meshq::bridge {
namespace {

using testing::BrokerProcess;
using namespace std::chrono_literals;

constexpr uint64_t kMemberA = 0xA;
constexpr uint64_t kMemberB = 0xB;

class AssignmentTest : public ::testing::Test {
 protected:
  void Start(const std::string& hold_ms) {
    args_ = {"--redelivery-hold-ms", hold_ms, "--responder-grace-ms", "100"};
    ASSERT_TRUE(broker_.Start(args_));
  }
  std::unique_ptr<BlockingBrokerClient> Connect() {
    auto c = std::make_unique<BlockingBrokerClient>(broker_.address());
    EXPECT_TRUE(c->Connect(5s).ok());
    return c;
  }
  // Stores two requests (dedupe ids 101, 102), acknowledged once written.
  void PutRequests() {
    auto producer = Connect();
    ASSERT_TRUE(producer->Put("rpc.req.s", {{101, "r1"}, {102, "r2"}}, kPutFlagWritten).ok());
  }
  // What `member` gets from one fetch that waits at most `wait_ms`.
  std::vector<OwnedMessage> Fetch(BlockingBrokerClient& c, uint64_t member, uint32_t wait_ms) {
    std::vector<OwnedMessage> got;
    EXPECT_TRUE(c.GroupFetch("rpc.req.s", "rpc", 10, wait_ms, &got, member).ok());
    return got;
  }

  BrokerProcess broker_;
  std::vector<std::string> args_;
};

TEST_F(AssignmentTest, AClosedMembersRequestsWaitForItNotForAnotherMember) {
  Start("30000");
  PutRequests();
  auto a = Connect();
  ASSERT_EQ(Fetch(*a, kMemberA, 0).size(), 2u);
  a->Close();
  auto b = Connect();
  EXPECT_TRUE(Fetch(*b, kMemberB, 300).empty()) << "B took what A may have run";
  auto a_again = Connect();
  std::vector<OwnedMessage> got = Fetch(*a_again, kMemberA, 0);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].dedupe_id, 101u);
  EXPECT_EQ(got[1].dedupe_id, 102u);
}

TEST_F(AssignmentTest, AKilledBrokerStillKnowsWhomItHandedEachRequest) {
  Start("30000");
  PutRequests();
  {
    auto a = Connect();
    ASSERT_EQ(Fetch(*a, kMemberA, 0).size(), 2u);
    // The answer came after the assignment was written: a kill now must not forget it.
    ASSERT_EQ(WTERMSIG(broker_.Stop(SIGKILL)), SIGKILL);
  }
  ASSERT_TRUE(broker_.Restart(args_));
  auto b = Connect();
  EXPECT_TRUE(Fetch(*b, kMemberB, 300).empty()) << "B took what A may have run";
  // A plain (non-assigning) consumer of the group does not get them either.
  auto plain = Connect();
  EXPECT_TRUE(Fetch(*plain, 0, 100).empty());
  auto a = Connect();
  EXPECT_EQ(Fetch(*a, kMemberA, 0).size(), 2u);
}

TEST_F(AssignmentTest, WhenTheHoldRunsOutAnyMemberGetsTheRequest) {
  Start("300");
  PutRequests();
  auto a = Connect();
  ASSERT_EQ(Fetch(*a, kMemberA, 0).size(), 2u);
  a->Close();
  auto b = Connect();
  EXPECT_TRUE(Fetch(*b, kMemberB, 0).empty());
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(Fetch(*b, kMemberB, 0).size(), 2u);
}

TEST_F(AssignmentTest, AReleasedRequestGoesToAnotherMemberAtOnce) {
  Start("30000");
  PutRequests();
  auto a = Connect();
  std::vector<OwnedMessage> got = Fetch(*a, kMemberA, 0);
  ASSERT_EQ(got.size(), 2u);
  ASSERT_TRUE(a->Release("rpc.req.s", "rpc", {got[1].offset}).ok());
  auto b = Connect();
  got = Fetch(*b, kMemberB, 2000);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].dedupe_id, 102u);
  // The release is journaled: after a kill, 102 is B's and 101 still A's.
  ASSERT_EQ(WTERMSIG(broker_.Stop(SIGKILL)), SIGKILL);
  ASSERT_TRUE(broker_.Restart(args_));
  auto a2 = Connect();
  got = Fetch(*a2, kMemberA, 0);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].dedupe_id, 101u);
  auto b2 = Connect();
  got = Fetch(*b2, kMemberB, 0);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].dedupe_id, 102u);
}

}  // namespace
}  // namespace meshq::bridge
