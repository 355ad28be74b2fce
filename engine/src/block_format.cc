// Block encoding, header parsing and checksum verification.
#include "block_format.h"

#include <cstring>

#include "hash.h"
#include "meshq/coding.h"
#include "meshq/options.h"

namespace meshq {

const char* BlockCheckName(BlockCheck check) {
  switch (check) {
    case BlockCheck::kOk:
      return "ok";
    case BlockCheck::kNotABlock:
      return "not a block";
    case BlockCheck::kTruncated:
      return "truncated block";
    case BlockCheck::kBadHeader:
      return "impossible block header";
    case BlockCheck::kBadChecksum:
      return "block checksum mismatch";
  }
  return "unknown";
}

uint32_t EncodeBlock(char* dst, uint32_t queue_id, uint64_t first_offset, uint32_t count,
                     std::string_view payload, uint64_t salt) {
  const auto payload_len = static_cast<uint32_t>(payload.size());
  const uint32_t stored = BlockHeader::StoredBytes(payload_len);
  EncodeFixed32(dst, kBlockMagic);
  EncodeFixed32(dst + 12, queue_id);
  EncodeFixed32(dst + 16, count);
  EncodeFixed32(dst + 20, payload_len);
  EncodeFixed64(dst + 24, first_offset);
  if (!payload.empty() && payload.data() != dst + kBlockHeaderSize) {
    std::memmove(dst + kBlockHeaderSize, payload.data(), payload_len);
  }
  std::memset(dst + kBlockHeaderSize + payload_len, 0, stored - kBlockHeaderSize - payload_len);
  EncodeFixed64(dst + 4, Checksum(dst + 12, kBlockHeaderSize - 12 + payload_len, salt));
  return stored;
}

BlockCheck DecodeBlockHeader(const char* data, size_t avail, BlockHeader* header) {
  if (avail < kBlockHeaderSize) {
    if (avail >= 4 && DecodeFixed32(data) == kBlockMagic) return BlockCheck::kTruncated;
    return BlockCheck::kNotABlock;
  }
  if (DecodeFixed32(data) != kBlockMagic) return BlockCheck::kNotABlock;
  header->checksum = DecodeFixed64(data + 4);
  header->queue_id = DecodeFixed32(data + 12);
  header->count = DecodeFixed32(data + 16);
  header->payload_len = DecodeFixed32(data + 20);
  header->first_offset = DecodeFixed64(data + 24);
  if (header->count == 0 || header->payload_len > kMaxBlockBytes - kBlockHeaderSize ||
      header->payload_len < header->count ||  // every message needs at least its length byte
      header->first_offset >= kMaxMessagesPerQueue ||
      header->count > kMaxMessagesPerQueue - header->first_offset) {
    return BlockCheck::kBadHeader;
  }
  return BlockCheck::kOk;
}

BlockCheck CheckBlock(const char* data, size_t avail, uint64_t salt, BlockHeader* header) {
  BlockCheck check = DecodeBlockHeader(data, avail, header);
  if (check != BlockCheck::kOk) return check;
  if (avail < kBlockHeaderSize + header->payload_len) return BlockCheck::kTruncated;
  if (Checksum(data + 12, kBlockHeaderSize - 12 + header->payload_len, salt) != header->checksum) {
    return BlockCheck::kBadChecksum;
  }
  return BlockCheck::kOk;
}

bool BlockMessageIterator::Next(std::string_view* message, bool* error) {
  *error = false;
  if (remaining_ == 0) {
    *error = p_ != limit_;  // trailing bytes after the last message
    return false;
  }
  uint32_t len = 0;
  const char* q = DecodeVarint32(p_, limit_, &len);
  if (q == nullptr || static_cast<size_t>(limit_ - q) < len) {
    *error = true;
    return false;
  }
  *message = std::string_view(q, len);
  p_ = q + len;
  --remaining_;
  return true;
}

char* AppendFramedMessage(char* dst, std::string_view message) {
  dst = EncodeVarint32(dst, static_cast<uint32_t>(message.size()));
  if (!message.empty()) std::memcpy(dst, message.data(), message.size());
  return dst + message.size();
}

size_t FramedMessageSize(size_t message_size) {
  return static_cast<size_t>(Varint32Length(static_cast<uint32_t>(message_size))) + message_size;
}

}  // namespace meshq
