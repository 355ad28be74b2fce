// Broker frames: the fixed 16-byte header every message on a broker connection starts with, and
// the pure decoder that splits a byte stream into frames. Layouts: docs/broker-protocol.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "meshq/decode_result.h"

namespace meshq::bridge {

// Frame types. Requests go client -> broker; each is answered by exactly one response frame with
// the same request id, of type (request type | kResponseBit), or kError.
enum class FrameType : uint8_t {
  kPut = 0x01,
  kGet = 0x02,
  kFetch = 0x03,
  kGroupFetch = 0x04,
  kAck = 0x05,
  kPing = 0x06,
  kStats = 0x07,   // the broker's and its store's counters (docs/broker-protocol.md, STATS)
  kAnchor = 0x08,  // a queue's audit chain anchor (docs/broker-protocol.md, ANCHOR)
  kPutReply = 0x81,
  kMessages = 0x82,  // answers kGet, kFetch and kGroupFetch
  kAckReply = 0x85,
  kPong = 0x86,
  kStatsReply = 0x87,
  kAnchorReply = 0x88,
  kError = 0xFF,
};
inline constexpr uint8_t kResponseBit = 0x80;

// Flags of a kPut frame.
inline constexpr uint8_t kPutFlagFlush = 0x01;  // acknowledge only after a Flush
inline constexpr uint8_t kPutFlagRequireConsumers =
    0x02;                                       // fail with kNoConsumers if no group member
inline constexpr uint8_t kPutFlagReply = 0x04;  // dedupe ids settle requests (replies)
// Acknowledge only after the data is written to the OS (a Flush without fdatasync): survives a
// broker kill -9, not a machine crash. FLUSH wins when both are set.
inline constexpr uint8_t kPutFlagWritten = 0x08;

// When the broker acknowledges a PUT: what a caller chooses, as PUT flags.
enum class PutDurability : uint8_t {
  kStored,   // in the engine (readable); the newest may be lost if the broker dies
  kWritten,  // written to the OS: survives a broker kill -9 or restart, not a machine crash
  kSynced,   // fdatasync'ed: also survives a machine crash; costs the broker an fsync per round
};
inline constexpr uint8_t DurabilityFlags(PutDurability d) {
  return d == PutDurability::kSynced    ? kPutFlagFlush
         : d == PutDurability::kWritten ? kPutFlagWritten
                                        : 0;
}
// "stored", "written" or "synced"; false for anything else.
bool ParsePutDurability(std::string_view text, PutDurability* out);
const char* PutDurabilityName(PutDurability d);
// Flags of a kAck frame.
inline constexpr uint8_t kAckFlagSync = 0x01;  // answer after the committed offset is durable
// No answer unless it fails (ignored with kAckFlagSync): spares the acker a wake-up per ack.
inline constexpr uint8_t kAckFlagNoReply = 0x02;
// The offsets are handed back to the group at once, for any member: the member did not run them
// (a responder draining). Without it, what an assigning member leaves unacked is held for it.
inline constexpr uint8_t kAckFlagRelease = 0x04;

// GET/FETCH flag: each message's payload is its whole stored record, the broker's envelope
// (identity, chain digest) included: what `meshq audit` reads and verifies.
inline constexpr uint8_t kReadFlagStored = 0x01;

// Status byte of a response header: 0 is OK, 1..8 are meshq::Status codes, and these are
// broker-specific.
inline constexpr uint8_t kStatusNoConsumers = 100;
inline constexpr uint8_t kStatusBadFrame = 101;

inline constexpr size_t kFrameHeaderSize = 16;
// Bodies above this are refused: bounds what one connection can make the broker buffer.
inline constexpr uint32_t kMaxFrameBody = 16u << 20;

struct FrameHeader {
  uint32_t body_length = 0;
  FrameType type = FrameType::kPing;
  uint8_t flags = 0;
  uint8_t status = 0;  // responses only
  uint64_t request_id = 0;
};

struct Frame {
  FrameHeader header;
  std::string_view body;  // points into the decoded input
};

// True for every FrameType value above.
bool IsKnownFrameType(uint8_t type);

// Decodes the first frame of `input`; `consumed` is its header and body. Pure: no I/O, no
// allocation. NeedMore when `input` holds less than one whole frame. An error as soon as the
// header shows one (the stream cannot be resynchronised after it, so the connection is closed):
// InvalidArgument for a body over `max_body`, Corruption for an unknown frame type.
DecodeResult<Frame> DecodeFrame(std::string_view input, uint32_t max_body = kMaxFrameBody);

// Appends a header followed by `body` to *out.
void AppendFrame(const FrameHeader& header, std::string_view body, std::string* out);

}  // namespace meshq::bridge
