// The tamper-evident audit end to end: a real meshq-broker with --audit-key stores RPC requests
// and replies, the test edits the stored messages in the segment files while the broker is down
// (changing, removing, reordering, inserting — and fixing up each block's XXH3 checksum with the
// engine's own block encoder, so the engine reads them as valid), restarts it, and
// `meshq-audit --verify` must name the first bad message. A store the retention trimmed verifies
// clean; a prefix removed without the broker's trim anchor does not. One verify runs through
// `meshq audit`, the operator's command, the others through meshq-audit.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "block_format.h"
#include "block_ref.h"
#include "broker_process.h"
#include "meshq/bridge/blocking_broker_client.h"
#include "meshq/bridge/frame.h"
#include "meshq/bridge/rpc_message.h"
#include "meshq/queue_store.h"
#include "store_view.h"

namespace meshq::bridge {
namespace {

using namespace std::chrono_literals;
using testing::BrokerProcess;
using testing::RunProgram;

constexpr int kCalls = 10;
const std::string kRequests = "rpc.req.svc";
const std::string kReplies = "rpc.rep.cli";

class AuditChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = broker_.dir() + ".audit.key";
    WriteKey(key_, std::string(32, 'k'));
    ASSERT_TRUE(broker_.Start(Args()));
  }
  void TearDown() override { std::filesystem::remove(key_); }

  static void WriteKey(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
    ::chmod(path.c_str(), 0600);
  }
  std::vector<std::string> Args(std::vector<std::string> more = {}) const {
    more.insert(more.begin(), {"--audit-key", key_});
    return more;
  }

  // kCalls requests in one PUT (so they share a block), handed to a responder, answered by one
  // REPLY put, and the answers delivered to the requester's group.
  void MakeCalls(uint64_t first_id = 1) {
    BlockingBrokerClient requester(broker_.address()), responder(broker_.address());
    ASSERT_TRUE(requester.Connect(3s).ok());
    ASSERT_TRUE(responder.Connect(3s).ok());
    std::vector<std::pair<uint64_t, std::string>> requests, replies;
    const uint64_t now = UnixMicros();
    for (uint64_t id = first_id; id < first_id + kCalls; ++id) {
      RpcRequest r;
      r.request_id = id;
      r.deadline_us = now + 60'000'000;
      r.sent_us = now;
      r.reply_to = kReplies;
      r.method = "hash";
      const std::string payload = "parameter " + std::to_string(id);
      r.payload = payload;
      std::string encoded;
      EncodeRpcRequest(r, &encoded);
      requests.emplace_back(id, encoded);
    }
    ASSERT_TRUE(requester.Put(kRequests, requests, kPutFlagFlush).ok());
    std::vector<OwnedMessage> handed;
    ASSERT_TRUE(responder.GroupFetch(kRequests, kRpcGroup, kCalls, 1000, &handed, 7).ok());
    ASSERT_EQ(handed.size(), static_cast<size_t>(kCalls));
    std::vector<uint64_t> offsets;
    for (const OwnedMessage& m : handed) {
      RpcReply reply;
      reply.request_id = m.dedupe_id;
      reply.deadline_us = now + 60'000'000;
      reply.replied_us = UnixMicros();
      const std::string payload = "answer " + std::to_string(m.dedupe_id);
      reply.payload = payload;
      std::string encoded;
      EncodeRpcReply(reply, &encoded);
      replies.emplace_back(m.dedupe_id, encoded);
      offsets.push_back(m.offset);
    }
    std::vector<PutStatus> results;
    Status put = responder.Put(kReplies, replies, kPutFlagReply | kPutFlagFlush, &results);
    ASSERT_TRUE(put.ok()) << put.ToString();
    for (const PutStatus& r : results) ASSERT_EQ(r.outcome, PutOutcome::kStored);
    ASSERT_TRUE(responder.Ack(kRequests, kRpcGroup, offsets, true).ok());
    std::vector<OwnedMessage> delivered;
    ASSERT_TRUE(requester.GroupFetch(kReplies, kRpcGroup, kCalls, 1000, &delivered).ok());
    std::vector<uint64_t> reply_offsets;
    for (const OwnedMessage& m : delivered) reply_offsets.push_back(m.offset);
    ASSERT_TRUE(requester.Ack(kReplies, kRpcGroup, reply_offsets, true).ok());
  }

  // `meshq-audit --verify`, or with `tool` the same through `meshq audit`.
  int Verify(std::string* out, const std::string& key = {}, bool tool = false,
             const std::string& extra = {}) {
    const std::string program =
        tool ? std::string(MESHQ_TOOL_PATH) + " audit" : std::string(MESHQ_AUDIT_PATH);
    return RunProgram({"/bin/sh", "-c",
                       program + " --broker 127.0.0.1:" + std::to_string(broker_.port()) +
                           " --service svc --verify --audit-key " + (key.empty() ? key_ : key) +
                           " " + extra + " 2>&1"},
                      out, 30s);
  }

  // With the broker stopped: rewrites the block of `queue` holding `offset`, after `edit` changed
  // its messages (their count stays, so the engine's index still fits), and fixes up the
  // block's checksum with the engine's encoder. Then restarts the broker.
  void EditBlock(const std::string& queue, uint64_t offset,
                 const std::function<void(std::vector<std::string>*, uint64_t first)>& edit) {
    ASSERT_EQ(broker_.Stop(SIGTERM), 0);
    {
      cli::StoreView view;
      Status opened = view.Open(broker_.dir() + "/store");
      ASSERT_TRUE(opened.ok()) << opened.ToString();
      const cli::ViewQueue* q = view.FindQueue(queue);
      ASSERT_NE(q, nullptr);
      ASSERT_FALSE(q->blocks.empty());
      const BlockRef ref = q->blocks[FindBlock(q->blocks, offset)];
      std::string buf;
      BlockHeader header;
      BlockCheck check;
      ASSERT_TRUE(view.ReadBlock(q->segment, ref.unit, &buf, &header, &check).ok());
      ASSERT_EQ(check, BlockCheck::kOk);
      std::vector<std::string> messages;
      BlockMessageIterator it(buf.data() + kBlockHeaderSize, header.payload_len, header.count);
      std::string_view m;
      bool error = false;
      while (it.Next(&m, &error)) messages.emplace_back(m);
      ASSERT_FALSE(error);
      const size_t count = messages.size();
      edit(&messages, header.first_offset);
      ASSERT_EQ(messages.size(), count);
      std::string payload;
      for (const std::string& msg : messages) {
        std::string framed(FramedMessageSize(msg.size()), '\0');
        AppendFramedMessage(framed.data(), msg);
        payload += framed;
      }
      const uint32_t size = BlockHeader::StoredBytes(static_cast<uint32_t>(payload.size()));
      ASSERT_LE(size, header.stored_bytes()) << "the edit must fit the block's place";
      std::string block(header.stored_bytes(), '\0');
      EncodeBlock(block.data(), header.queue_id, header.first_offset,
                  static_cast<uint32_t>(messages.size()), payload, view.salt());
      BlockHeader again;
      ASSERT_EQ(CheckBlock(block.data(), block.size(), view.salt(), &again), BlockCheck::kOk);
      const int fd = ::open(view.segment(q->segment).path.c_str(), O_WRONLY);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(::pwrite(fd, block.data(), block.size(), off_t{ref.unit} * kBlockUnit),
                static_cast<ssize_t>(block.size()));
      ::close(fd);
    }
    ASSERT_TRUE(broker_.Start(Args()));
  }

  // The edited queue still reads back without any engine error (the checksum is valid).
  void ExpectReadable(const std::string& queue) {
    BlockingBrokerClient c(broker_.address());
    ASSERT_TRUE(c.Connect(3s).ok());
    std::vector<OwnedMessage> got;
    EXPECT_TRUE(c.Get(queue, 0, 100, &got).ok());
    EXPECT_EQ(got.size(), static_cast<size_t>(kCalls));
  }

  BrokerProcess broker_;
  std::string key_;
};

TEST_F(AuditChainTest, AnUntouchedStoreVerifies) {
  MakeCalls();
  std::string out;
  EXPECT_EQ(Verify(&out), 0) << out;
  EXPECT_NE(out.find("chain: 20 stored messages verified in 2 queues, 0 broken"), std::string::npos)
      << out;
  // Across a restart the chain goes on from the stored digests.
  broker_.Stop(SIGTERM);
  ASSERT_TRUE(broker_.Start(Args()));
  MakeCalls(100);
  EXPECT_EQ(Verify(&out), 0) << out;
  EXPECT_NE(out.find("chain: 40 stored messages verified"), std::string::npos) << out;
}

TEST_F(AuditChainTest, AnotherKeyVerifiesNothing) {
  MakeCalls();
  const std::string other = broker_.dir() + ".other.key";
  WriteKey(other, std::string(32, 'x'));
  std::string out;
  EXPECT_EQ(Verify(&out, other), 1) << out;
  EXPECT_NE(out.find("CHAIN-BROKEN rpc.req.svc  offset 0  message 0000000000000001: digest "
                     "mismatch"),
            std::string::npos)
      << out;
  std::filesystem::remove(other);
}

TEST_F(AuditChainTest, AChangedByteIsFoundEvenWithTheChecksumFixedUp) {
  MakeCalls();
  EditBlock(kRequests, 3, [](std::vector<std::string>* m, uint64_t first) {
    std::string& victim = (*m)[3 - first];
    victim[victim.size() - 1] ^= 0x01;  // the last byte of the parameter
  });
  ExpectReadable(kRequests);
  std::string out;
  EXPECT_EQ(Verify(&out, {}, /*tool=*/true), 1) << out;
  EXPECT_NE(out.find("CHAIN-BROKEN rpc.req.svc  offset 3  message 0000000000000004: digest "
                     "mismatch"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("CHAIN-BROKEN rpc.rep.cli"), std::string::npos) << out;
}

TEST_F(AuditChainTest, ARemovedReplyIsFound) {
  MakeCalls();
  // Reply 4 removed, the later ones moved down an offset (the last one stays twice, so the
  // engine's index still fits).
  EditBlock(kReplies, 4, [](std::vector<std::string>* m, uint64_t first) {
    m->erase(m->begin() + static_cast<ptrdiff_t>(4 - first));
    m->push_back(m->back());
  });
  ExpectReadable(kReplies);
  std::string out;
  EXPECT_EQ(Verify(&out), 1) << out;
  EXPECT_NE(out.find("CHAIN-BROKEN rpc.rep.cli  offset 4  reply 0000000000000006: digest mismatch"),
            std::string::npos)
      << out;
}

TEST_F(AuditChainTest, ReorderedRequestsAreFound) {
  MakeCalls();
  EditBlock(kRequests, 5, [](std::vector<std::string>* m, uint64_t first) {
    std::swap((*m)[5 - first], (*m)[6 - first]);
  });
  ExpectReadable(kRequests);
  std::string out;
  EXPECT_EQ(Verify(&out), 1) << out;
  EXPECT_NE(out.find("CHAIN-BROKEN rpc.req.svc  offset 5  message 0000000000000007"),
            std::string::npos)
      << out;
}

TEST_F(AuditChainTest, AnInsertedCopyOfAGenuineRequestIsFound) {
  MakeCalls();
  // A genuine record (request 3, its own digest included) inserted again at offset 7.
  EditBlock(kRequests, 7, [](std::vector<std::string>* m, uint64_t first) {
    const std::string copy = (*m)[2 - first];
    m->insert(m->begin() + static_cast<ptrdiff_t>(7 - first), copy);
    m->pop_back();
  });
  ExpectReadable(kRequests);
  std::string out;
  EXPECT_EQ(Verify(&out), 1) << out;
  EXPECT_NE(out.find("CHAIN-BROKEN rpc.req.svc  offset 7  message 0000000000000003: digest "
                     "mismatch"),
            std::string::npos)
      << out;
}

TEST_F(AuditChainTest, APrefixRemovedWithoutTheBrokerIsFound) {
  MakeCalls();
  ASSERT_EQ(broker_.Stop(SIGTERM), 0);
  {
    // The engine's own Trim, run by someone with the files but not the key: no anchor.
    StoreOptions so;
    so.dir = broker_.dir() + "/store";
    std::unique_ptr<QueueStore> store;
    ASSERT_TRUE(QueueStore::Open(so, &store).ok());
    Status trimmed = store->Trim(kRequests, 3);
    ASSERT_TRUE(trimmed.ok()) << trimmed.ToString();
    ASSERT_TRUE(store->Close().ok());
  }
  ASSERT_TRUE(broker_.Start(Args()));
  std::string out;
  EXPECT_EQ(Verify(&out), 1) << out;
  EXPECT_NE(out.find("CHAIN-BROKEN rpc.req.svc  offset 3  offsets below 3 are gone without a "
                     "trim anchor: removed"),
            std::string::npos)
      << out;
}

TEST_F(AuditChainTest, AStoreTheRetentionTrimmedVerifiesClean) {
  ASSERT_TRUE(broker_.Restart(Args({"--retention-ms", "1", "--retention-round-ms", "10",
                                    "--dedupe-min-age-ms", "1000", "--redelivery-hold-ms", "0"})));
  MakeCalls();
  // Settled and delivered: both queues go, to their anchors.
  BlockingBrokerClient c(broker_.address());
  ASSERT_TRUE(c.Connect(3s).ok());
  auto start_of = [&](const std::string& q) {
    std::vector<OwnedMessage> got;
    uint64_t size = 0;
    EXPECT_TRUE(c.Get(q, 0, 100, &got, &size).ok());
    return got.empty() ? size : got.front().offset;
  };
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while ((start_of(kRequests) == 0 || start_of(kReplies) == 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_GT(start_of(kRequests), 0u);
  ASSERT_GT(start_of(kReplies), 0u);
  std::string out;
  const std::string heads = "--heads " + broker_.dir() + ".heads";
  EXPECT_EQ(Verify(&out, {}, false, heads), 0) << out;
  // The chain goes on from the anchors, also after a restart (heads found again from them), and
  // extends the heads the audit recorded at the anchors.
  broker_.Stop(SIGTERM);
  ASSERT_TRUE(broker_.Start(Args()));
  MakeCalls(100);
  EXPECT_EQ(Verify(&out, {}, false, heads), 0) << out;
  EXPECT_NE(out.find(" 0 broken"), std::string::npos) << out;
  std::filesystem::remove(broker_.dir() + ".heads");
}

TEST_F(AuditChainTest, TheAuditorsHeadsFindARolledBackStore) {
  // A copy of the whole store, taken after the first calls, put back after more: every file
  // consistent, every chain intact — the newest messages are simply gone. Only an auditor who
  // saw the chains longer can tell.
  const std::string snapshot = broker_.dir() + ".snapshot";
  const std::string heads_file = broker_.dir() + ".heads";
  const std::string heads = "--heads " + heads_file;
  MakeCalls();
  ASSERT_EQ(broker_.Stop(SIGTERM), 0);
  std::filesystem::copy(broker_.dir() + "/store", snapshot,
                        std::filesystem::copy_options::recursive);
  ASSERT_TRUE(broker_.Start(Args()));
  std::string out;
  EXPECT_EQ(Verify(&out, {}, false, heads), 0) << out;  // the first audit: no heads yet
  MakeCalls(100);
  EXPECT_EQ(Verify(&out, {}, false, heads), 0) << out;  // the chains grew past the heads
  EXPECT_NE(out.find("heads: 2 queues' chain heads written to " + heads_file), std::string::npos)
      << out;
  std::string recorded;
  {
    std::ifstream in(heads_file);
    recorded.assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_NE(recorded.find("rpc.req.svc 20 "), std::string::npos) << recorded;

  ASSERT_EQ(broker_.Stop(SIGTERM), 0);
  std::filesystem::remove_all(broker_.dir() + "/store");
  std::filesystem::copy(snapshot, broker_.dir() + "/store",
                        std::filesystem::copy_options::recursive);
  ASSERT_TRUE(broker_.Start(Args()));
  EXPECT_EQ(Verify(&out), 0) << "the chain alone cannot see it: " << out;
  EXPECT_EQ(Verify(&out, {}, false, heads), 1) << out;
  EXPECT_NE(out.find("CHAIN-BROKEN rpc.req.svc  offset 10  ends at 10, an earlier audit saw it "
                     "end at 20"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("CHAIN-BROKEN rpc.rep.cli  offset 10"), std::string::npos) << out;
  // A broken audit is no baseline: the heads stay those of the longer chains.
  std::string after;
  {
    std::ifstream in(heads_file);
    after.assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_EQ(after, recorded);
  std::filesystem::remove_all(snapshot);
  std::filesystem::remove(heads_file);
}

TEST_F(AuditChainTest, MessagesStoredWithoutTheKeyAreReportedNotChained) {
  // The first format (no identity, no digest) still reads, and is no verified record.
  ASSERT_TRUE(broker_.Restart());
  MakeCalls();
  ASSERT_TRUE(broker_.Restart(Args()));
  MakeCalls(100);
  std::string out;
  EXPECT_EQ(Verify(&out), 1) << out;
  EXPECT_NE(out.find("CHAIN-BROKEN rpc.req.svc  offset 0  message 0000000000000001 not chained"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("requests 20  answered 20"), std::string::npos) << out;
}

TEST_F(AuditChainTest, AKeyOthersCanReadOrAShortOneIsRefusedAtStart) {
  const std::string loose = broker_.dir() + ".loose.key";
  auto start = [&](std::string* out) {
    return RunProgram({"/bin/sh", "-c",
                       std::string(MESHQ_BROKER_PATH) + " --dir " + broker_.dir() +
                           "/other --audit-key " + loose + " 2>&1"},
                      out, 10s);
  };
  std::ofstream(loose) << std::string(32, 'k');
  ::chmod(loose.c_str(), 0644);
  std::string out;
  EXPECT_EQ(start(&out), 2);
  EXPECT_NE(out.find("readable by other users"), std::string::npos) << out;
  WriteKey(loose, "short");
  EXPECT_EQ(start(&out), 2);
  EXPECT_NE(out.find("shorter than 32 bytes"), std::string::npos) << out;
  std::filesystem::remove(loose);
}

}  // namespace
}  // namespace meshq::bridge
