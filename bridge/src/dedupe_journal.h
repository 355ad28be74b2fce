// The records of the broker's dedupe journal (queues "__meshq.dedupe.<generation>"): a request
// stored, a reply stored, a request assigned to a responder or handed back by it unrun. Pure
// encode/decode, shared by the broker's DedupeWindow and by `meshq audit`, which reads the journal
// to find requests handed to more than one responder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace meshq::bridge {

enum class JournalKind : uint8_t { kRequest = 1, kReply = 2, kAssignment = 3, kRelease = 4 };

struct JournalRecord {
  JournalKind kind = JournalKind::kRequest;
  uint64_t id = 0;               // the dedupe id (an RPC call's request id)
  uint64_t reply_offset = 0;     // kReply
  std::string_view reply_queue;  // kReply (a view into the decoded bytes)
  uint64_t member = 0;           // kAssignment, kRelease
};

std::string DedupeJournalQueue(uint64_t generation);

void EncodeJournalRecord(const JournalRecord& record, std::string* out);
// False when `bytes` is not one whole record of a known kind.
bool DecodeJournalRecord(std::string_view bytes, JournalRecord* out);

}  // namespace meshq::bridge
