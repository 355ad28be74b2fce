// Frame header encoding and the pure stream decoder.
#include "meshq/bridge/frame.h"

#include <string>
#include <utility>

#include "meshq/coding.h"

namespace meshq::bridge {

bool IsKnownFrameType(uint8_t type) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::kPut:
    case FrameType::kGet:
    case FrameType::kFetch:
    case FrameType::kGroupFetch:
    case FrameType::kAck:
    case FrameType::kPing:
    case FrameType::kStats:
    case FrameType::kAnchor:
    case FrameType::kAnchorReply:
    case FrameType::kPutReply:
    case FrameType::kMessages:
    case FrameType::kAckReply:
    case FrameType::kPong:
    case FrameType::kStatsReply:
    case FrameType::kError:
      return true;
  }
  return false;
}

DecodeResult<Frame> DecodeFrame(std::string_view input, uint32_t max_body) {
  if (input.size() < kFrameHeaderSize) return DecodeResult<Frame>::NeedMore();
  const char* p = input.data();
  uint32_t length = DecodeFixed32(p);
  uint8_t type = static_cast<uint8_t>(p[4]);
  if (length > max_body) {
    return DecodeResult<Frame>::Error(Status::InvalidArgument(
        "frame body of " + std::to_string(length) + " bytes exceeds " + std::to_string(max_body)));
  }
  if (!IsKnownFrameType(type)) {
    return DecodeResult<Frame>::Error(
        Status::Corruption("unknown frame type " + std::to_string(type)));
  }
  if (input.size() - kFrameHeaderSize < length) return DecodeResult<Frame>::NeedMore();
  Frame frame;
  frame.header.body_length = length;
  frame.header.type = static_cast<FrameType>(type);
  frame.header.flags = static_cast<uint8_t>(p[5]);
  frame.header.status = static_cast<uint8_t>(p[6]);
  frame.header.request_id = DecodeFixed64(p + 8);
  frame.body = input.substr(kFrameHeaderSize, length);
  return DecodeResult<Frame>::Ok(frame, kFrameHeaderSize + length);
}

void AppendFrame(const FrameHeader& header, std::string_view body, std::string* out) {
  char h[kFrameHeaderSize];
  EncodeFixed32(h, static_cast<uint32_t>(body.size()));
  h[4] = static_cast<char>(header.type);
  h[5] = static_cast<char>(header.flags);
  h[6] = static_cast<char>(header.status);
  h[7] = 0;
  EncodeFixed64(h + 8, header.request_id);
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
