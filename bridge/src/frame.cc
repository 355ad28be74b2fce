// Frame header encoding and the pure stream decoder.
#include "meshq/bridge/frame.h"

#include <utility>

#include "byte_order.h"

namespace meshq::bridge {

bool IsKnownFrameType(uint8_t type) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::kPut:
    case FrameType::kGet:
    case FrameType::kFetch:
    case FrameType::kGroupFetch:
    case FrameType::kAck:
    case FrameType::kPing:
    case FrameType::kPutReply:
    case FrameType::kMessages:
    case FrameType::kAckReply:
    case FrameType::kPong:
    case FrameType::kError:
      return true;
  }
  return false;
}

DecodeResult DecodeFrame(std::string_view input, uint32_t max_body) {
  DecodeResult result;
  if (input.size() < kFrameHeaderSize) return result;  // kNeedMore
  const char* p = input.data();
  uint32_t length = LoadU32(p);
  uint8_t type = static_cast<uint8_t>(p[4]);
  if (length > max_body) {
    result.outcome = DecodeOutcome::kOversized;
    return result;
  }
  if (!IsKnownFrameType(type)) {
    result.outcome = DecodeOutcome::kUnknownType;
    return result;
  }
  if (input.size() - kFrameHeaderSize < length) return result;  // kNeedMore
  result.outcome = DecodeOutcome::kFrame;
  result.frame.header.body_length = length;
  result.frame.header.type = static_cast<FrameType>(type);
  result.frame.header.flags = static_cast<uint8_t>(p[5]);
  result.frame.header.status = static_cast<uint8_t>(p[6]);
  result.frame.header.request_id = LoadU64(p + 8);
  result.frame.body = input.substr(kFrameHeaderSize, length);
  result.consumed = kFrameHeaderSize + length;
  return result;
}

void AppendFrame(const FrameHeader& header, std::string_view body, std::string* out) {
  char h[kFrameHeaderSize];
  StoreU32(h, static_cast<uint32_t>(body.size()));
  h[4] = static_cast<char>(header.type);
  h[5] = static_cast<char>(header.flags);
  h[6] = static_cast<char>(header.status);
  h[7] = 0;
  StoreU64(h + 8, header.request_id);
  out->append(h, sizeof(h));
  out->append(body);
}

namespace {
// One list for both directions, so a new level cannot be named in one and missing in the other.
constexpr std::pair<PutDurability, std::string_view> kDurabilityNames[] = {
    {PutDurability::kStored, "stored"},
    {PutDurability::kWritten, "written"},
    {PutDurability::kSynced, "synced"},
};
}  // namespace

bool ParsePutDurability(std::string_view text, PutDurability* out) {
  for (const auto& [d, name] : kDurabilityNames) {
    if (text == name) {
      *out = d;
      return true;
    }
  }
  return false;
}

const char* PutDurabilityName(PutDurability d) {
  for (const auto& [known, name] : kDurabilityNames) {
    if (known == d) return name.data();  // literals: NUL-terminated
  }
  return "?";
}

}  // namespace meshq::bridge
