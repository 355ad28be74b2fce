// Bodies of the broker's request and response frames (see frame.h for the header), with pure
// encoders and decoders. Decoders return Status::Corruption("truncated ...") for short bodies and
// keep string_views into the body they were given. Layouts: docs/broker-protocol.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "meshq/status.h"

namespace meshq::bridge {

// A message as given to PUT: a dedupe id (0 = none) and the payload.
struct PutMessage {
  uint64_t dedupe_id = 0;
  std::string_view payload;
};

// PUT: append messages to one queue. `group` is present only with kPutFlagRequireConsumers.
struct PutRequest {
  std::string_view queue;
  std::string_view group;
  std::vector<PutMessage> messages;
};

enum class PutOutcome : uint8_t {
  kStored = 0,     // appended at `offset`
  kDuplicate = 1,  // its dedupe id was seen in the window and is not settled yet; not appended
  kReplied = 2,    // its dedupe id is settled by a reply stored at reply_queue/reply_offset
};

struct PutResult {
  PutOutcome outcome = PutOutcome::kStored;
  uint64_t offset = 0;
  uint64_t reply_offset = 0;     // kReplied only
  std::string_view reply_queue;  // kReplied only
};

// GET (wait_ms ignored) and FETCH (long-poll: answers as soon as the queue holds a message at
// `offset`, or empty after wait_ms).
struct ReadRequest {
  std::string_view queue;
  uint64_t offset = 0;
  uint32_t max_count = 0;
  uint32_t wait_ms = 0;
};

// GROUP_FETCH: the next undelivered messages of `queue` for consumer group `group`.
// With a non-zero `member` (a responder's id, stable while its process lives) every request
// message handed out is first recorded, durably, as assigned to that member, and one assigned to
// another member is held for it (docs/broker-protocol.md, "Assignment"): after a broker restart
// or a reconnect a request goes back to the responder that may already have run it.
struct GroupFetchRequest {
  std::string_view queue;
  std::string_view group;
  uint32_t max_count = 0;
  uint32_t wait_ms = 0;
  uint64_t member = 0;  // 0 = no assignment (the body's optional last field)
};

// ACK: messages of a group fetch that are done with.
struct AckRequest {
  std::string_view queue;
  std::string_view group;
  std::vector<uint64_t> offsets;
};

// Flag bit of a stored message: it is a reply (its dedupe id names the request it settles).
inline constexpr uint8_t kMessageFlagReply = 0x01;

struct Message {
  uint64_t offset = 0;
  uint64_t dedupe_id = 0;
  uint8_t flags = 0;
  std::string_view payload;
};

// MESSAGES: the answer to GET, FETCH and GROUP_FETCH.
struct MessagesReply {
  uint64_t queue_size = 0;  // messages in the queue when the answer was made
  std::vector<Message> messages;
};

void EncodePutRequest(const PutRequest& request, uint8_t flags, std::string* body);
Status DecodePutRequest(std::string_view body, uint8_t flags, PutRequest* out);
void EncodePutReply(const std::vector<PutResult>& results, std::string* body);
Status DecodePutReply(std::string_view body, std::vector<PutResult>* out);

void EncodeReadRequest(const ReadRequest& request, std::string* body);
Status DecodeReadRequest(std::string_view body, ReadRequest* out);

void EncodeGroupFetchRequest(const GroupFetchRequest& request, std::string* body);
Status DecodeGroupFetchRequest(std::string_view body, GroupFetchRequest* out);

void EncodeAckRequest(const AckRequest& request, std::string* body);
Status DecodeAckRequest(std::string_view body, AckRequest* out);

// A MESSAGES body is built in place: BeginMessagesReply at offset `begin` of *body, one
// AppendMessage per message, then FinishMessagesReply patches in the count.
void BeginMessagesReply(uint64_t queue_size, std::string* body);
void AppendMessage(const Message& message, std::string* body);
void FinishMessagesReply(size_t begin, uint32_t count, std::string* body);
Status DecodeMessagesReply(std::string_view body, MessagesReply* out);

// STATS_REPLY: named counters of the broker and its store (names in docs/broker-protocol.md), in
// the order the broker sends them. A reader looks names up: new ones may be added.
using BrokerStats = std::vector<std::pair<std::string, uint64_t>>;
void EncodeStatsReply(const BrokerStats& stats, std::string* body);
Status DecodeStatsReply(std::string_view body, BrokerStats* out);
// The value of `name` in `stats`, or `missing` when it is not there.
uint64_t StatValue(const BrokerStats& stats, std::string_view name, uint64_t missing = 0);

}  // namespace meshq::bridge
