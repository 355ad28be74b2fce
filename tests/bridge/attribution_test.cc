// The stored-message envelope as BrokerCore writes it, without sockets: the caller's identity is
// stamped into every message it stores and no payload can forge it; an anonymous caller's
// messages keep the first format; records of the first format are still read, those of an
// unknown newer one refused; with an audit key each message chains to the one before it.
#include <gtest/gtest.h>

#include <filesystem>

#include "audit_chain.h"
#include "broker_core.h"
#include "meshq/metrics_registry.h"
#include "stored_message.h"

namespace meshq::bridge {
namespace {

class AttributionTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(nullptr); }
  void TearDown() override {
    core_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open(std::unique_ptr<AuditKey> key) {
    core_.reset();
    store_.reset();
    StoreOptions so;
    so.dir = dir_;
    ASSERT_TRUE(QueueStore::Open(so, &store_).ok());
    BrokerOptions b;
    b.dir = dir_;
    core_ = std::make_unique<BrokerCore>(store_.get(), b, false, &metrics_, std::move(key));
    ASSERT_TRUE(core_->Recover().ok());
  }
  Caller As(const std::string& identity, ConnectionId conn) {
    identities_.push_back(std::make_unique<std::string>(identity));
    return {conn, *identities_.back(), core_->InternIdentity(identity)};
  }
  void Put(const Caller& caller, const std::string& queue, std::vector<PutMessage> messages,
           uint8_t flags = 0) {
    std::string body;
    bool no_consumers = false, unbound = false;
    ASSERT_TRUE(
        core_->Put(caller, {queue, {}, std::move(messages)}, flags, &body, &no_consumers, &unbound)
            .ok());
    ASSERT_FALSE(unbound);
  }
  // The stored records of `queue` (GET with kReadFlagStored).
  std::vector<std::string> Stored(const std::string& queue) {
    std::string body;
    uint32_t count = 0;
    EXPECT_TRUE(core_->Read({queue, 0, 100, 0}, &body, &count, kReadFlagStored).ok());
    MessagesReply reply;
    EXPECT_TRUE(DecodeMessagesReply(body, &reply).ok());
    std::vector<std::string> out;
    for (const Message& m : reply.messages) out.emplace_back(m.payload);
    return out;
  }

  std::string dir_ =
      (std::filesystem::temp_directory_path() / ("meshq-attribution-" + std::to_string(::getpid())))
          .string();
  MetricsRegistry registry_;
  BrokerMetrics metrics_{&registry_};
  std::unique_ptr<QueueStore> store_;
  std::unique_ptr<BrokerCore> core_;
  std::vector<std::unique_ptr<std::string>> identities_;
};

TEST_F(AttributionTest, TheCallersIdentityIsStampedAndNoPayloadCanForgeIt) {
  // A payload made to look like an envelope naming someone else is only a payload.
  std::string lookalike;
  EncodeStoredMessage({7, kStoredFlagAttributed, "root", {}, "x"}, &lookalike);
  Put(As("alice", 1), "q", {{7, lookalike}, {0, "plain"}});
  const std::vector<std::string> stored = Stored("q");
  ASSERT_EQ(stored.size(), 2u);
  for (size_t i = 0; i < stored.size(); ++i) {
    StoredMessage m;
    ASSERT_TRUE(DecodeStoredMessage(stored[i], &m));
    EXPECT_EQ(m.identity, "alice");
    EXPECT_TRUE(m.flags & kStoredFlagAttributed);
    EXPECT_EQ(m.payload, i == 0 ? lookalike : "plain");
  }
  // Readers see the payload as it was put, and the public flags only.
  std::string body;
  uint32_t count = 0;
  ASSERT_TRUE(core_->Read({"q", 0, 10, 0}, &body, &count).ok());
  MessagesReply reply;
  ASSERT_TRUE(DecodeMessagesReply(body, &reply).ok());
  ASSERT_EQ(reply.messages.size(), 2u);
  EXPECT_EQ(reply.messages[0].payload, lookalike);
  EXPECT_EQ(reply.messages[0].flags, 0);
}

TEST_F(AttributionTest, AnAnonymousCallersMessagesKeepTheFirstFormat) {
  Put(As("", 1), "q", {{5, "payload"}});
  const std::vector<std::string> stored = Stored("q");
  ASSERT_EQ(stored.size(), 1u);
  std::string first_format;
  EncodeStoredMessage(5, 0, "payload", &first_format);
  EXPECT_EQ(stored[0], first_format);
  EXPECT_EQ(stored[0].size(), kEnvelopeSize + 7);
}

TEST_F(AttributionTest, OlderRecordsAreReadAndNewerOnesRefused) {
  std::string old_record, newer;
  EncodeStoredMessage(9, kMessageFlagReply, "an old reply", &old_record);
  ASSERT_TRUE(store_->Put("old", old_record).ok());
  std::string body;
  uint32_t count = 0;
  ASSERT_TRUE(core_->Read({"old", 0, 10, 0}, &body, &count).ok());
  MessagesReply reply;
  ASSERT_TRUE(DecodeMessagesReply(body, &reply).ok());
  ASSERT_EQ(reply.messages.size(), 1u);
  EXPECT_EQ(reply.messages[0].dedupe_id, 9u);
  EXPECT_EQ(reply.messages[0].flags, kMessageFlagReply);
  EXPECT_EQ(reply.messages[0].payload, "an old reply");
  // A flag bit this broker does not know: a newer format, refused rather than misread.
  EncodeStoredMessage(9, 0x40, "from the future", &newer);
  ASSERT_TRUE(store_->Put("new", newer).ok());
  body.clear();
  Status s = core_->Read({"new", 0, 10, 0}, &body, &count);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.ToString().find("newer format"), std::string::npos) << s.ToString();
}

TEST_F(AttributionTest, WithAnAuditKeyEachMessageChainsToTheOneBefore) {
  std::unique_ptr<AuditKey> key, check;
  ASSERT_TRUE(AuditKey::FromBytes(std::string(32, 'k'), &key).ok());
  ASSERT_TRUE(AuditKey::FromBytes(std::string(32, 'k'), &check).ok());
  Open(std::move(key));
  Put(As("bob", 1), "q", {{1, "a"}, {2, "b"}});
  Put(As("", 2), "q", {{3, "c"}});
  // Reopened: the chain goes on from the last stored digest.
  std::unique_ptr<AuditKey> again;
  ASSERT_TRUE(AuditKey::FromBytes(std::string(32, 'k'), &again).ok());
  Open(std::move(again));
  Put(As("bob", 1), "q", {{4, "d"}});
  const std::vector<std::string> stored = Stored("q");
  ASSERT_EQ(stored.size(), 4u);
  std::string prev = kChainGenesis;
  for (size_t i = 0; i < stored.size(); ++i) {
    StoredMessage m;
    ASSERT_TRUE(DecodeStoredMessage(stored[i], &m));
    ASSERT_TRUE(m.flags & kStoredFlagChained);
    EXPECT_EQ(check->Chain(prev, "q", i, m), m.digest) << "offset " << i;
    prev = std::string(m.digest);
  }
  // The digest covers the identity, the offset and the queue: a different one of each differs.
  StoredMessage m;
  ASSERT_TRUE(DecodeStoredMessage(stored[0], &m));
  StoredMessage other_identity = m;
  other_identity.identity = "mallory";
  EXPECT_NE(check->Chain(kChainGenesis, "q", 0, other_identity), m.digest);
  EXPECT_NE(check->Chain(kChainGenesis, "q", 1, m), m.digest);
  EXPECT_NE(check->Chain(kChainGenesis, "q2", 0, m), m.digest);
}

}  // namespace
}  // namespace meshq::bridge
