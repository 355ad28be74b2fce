// Dedupe journal records: every kind round-trips; truncated, over-long, unknown-kind and
// member-0 records are refused (the broker's replay reports them as Corruption).
#include "dedupe_journal.h"

#include <gtest/gtest.h>

#include <string>

namespace meshq::bridge {
namespace {

TEST(DedupeJournal, EveryKindRoundTrips) {
  const JournalRecord records[] = {
      {JournalKind::kRequest, 7},
      {JournalKind::kReply, 8, 42, "rpc.rep.client"},
      {JournalKind::kAssignment, 9, 0, {}, 0xABCDEF},
      {JournalKind::kRelease, 10, 0, {}, 0xABCDEF},
  };
  for (const JournalRecord& r : records) {
    std::string bytes;
    EncodeJournalRecord(r, &bytes);
    JournalRecord back;
    ASSERT_TRUE(DecodeJournalRecord(bytes, &back)) << static_cast<int>(r.kind);
    EXPECT_EQ(back.kind, r.kind);
    EXPECT_EQ(back.id, r.id);
    EXPECT_EQ(back.reply_offset, r.reply_offset);
    EXPECT_EQ(back.reply_queue, r.reply_queue);
    EXPECT_EQ(back.member, r.member);
    // Every proper prefix is refused, and so is a byte more.
    for (size_t n = 0; n < bytes.size(); ++n) {
      EXPECT_FALSE(DecodeJournalRecord(std::string_view(bytes).substr(0, n), &back)) << n;
    }
    EXPECT_FALSE(DecodeJournalRecord(bytes + "x", &back));
  }
}

TEST(DedupeJournal, TheByteLayoutIsTheDocumentedOne) {
  std::string bytes;
  EncodeJournalRecord({JournalKind::kAssignment, 0x0102030405060708, 0, {}, 0x1112131415161718},
                      &bytes);
  EXPECT_EQ(bytes, std::string("\x03\x08\x07\x06\x05\x04\x03\x02\x01"
                               "\x18\x17\x16\x15\x14\x13\x12\x11",
                               17));
}

TEST(DedupeJournal, UnknownKindsAndMemberZeroAreRefused) {
  JournalRecord back;
  std::string bytes;
  EncodeJournalRecord({JournalKind::kRequest, 7}, &bytes);
  bytes[0] = 5;
  EXPECT_FALSE(DecodeJournalRecord(bytes, &back));
  bytes[0] = 0;
  EXPECT_FALSE(DecodeJournalRecord(bytes, &back));
  EncodeJournalRecord({JournalKind::kAssignment, 7, 0, {}, 0}, &bytes);
  EXPECT_FALSE(DecodeJournalRecord(bytes, &back));
}

}  // namespace
}  // namespace meshq::bridge
