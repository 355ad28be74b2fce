// Block format: the unit of storage in a segment file. A block starts at a 1 KiB-aligned offset,
// occupies a whole number of 1 KiB units, and holds consecutive messages of one queue.
//
//   offset size  field
//   0      4     magic "MQBK" (0x4B42514D little-endian)
//   4      8     checksum: XXH3-64, seeded with the store salt, of bytes [12, 32 + payload_len)
//   12     4     queue id
//   16     4     message count (>= 1)
//   20     4     payload length in bytes
//   24     8     queue offset of the first message
//   32     ...   payload: per message, varint32 length then the bytes
//   ...          zero padding to the next 1 KiB boundary
//
// All decoders here are pure functions over bytes (docs/engine-format.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "meshq/status.h"

namespace meshq {

inline constexpr uint32_t kBlockUnit = 1024;
inline constexpr uint32_t kBlockHeaderSize = 32;
inline constexpr uint32_t kBlockMagic = 0x4B42514D;
// A block never exceeds this (one maximal message plus its header), so a scanner can bound reads.
inline constexpr uint32_t kMaxBlockBytes = (1u << 20) + 2 * kBlockUnit;

struct BlockHeader {
  uint64_t checksum = 0;
  uint32_t queue_id = 0;
  uint32_t count = 0;
  uint32_t payload_len = 0;
  uint64_t first_offset = 0;

  // Bytes the block occupies on disk, padding included.
  uint32_t stored_bytes() const { return StoredBytes(payload_len); }
  static uint32_t StoredBytes(uint32_t payload_len) {
    return (kBlockHeaderSize + payload_len + kBlockUnit - 1) / kBlockUnit * kBlockUnit;
  }
};

enum class BlockCheck {
  kOk,
  kNotABlock,    // no magic: free space, padding, or garbage
  kTruncated,    // magic present but fewer bytes than the block claims
  kBadHeader,    // magic present, impossible fields
  kBadChecksum,  // fields plausible, content does not match the checksum
};
const char* BlockCheckName(BlockCheck check);

// Writes a block for `payload` (already varint-framed messages) at dst, which must have room for
// BlockHeader::StoredBytes(payload.size()) bytes; pads with zeros. Returns the stored size.
uint32_t EncodeBlock(char* dst, uint32_t queue_id, uint64_t first_offset, uint32_t count,
                     std::string_view payload, uint64_t salt);

// Parses the fixed header of the block at `data` (avail bytes) without verifying the checksum.
BlockCheck DecodeBlockHeader(const char* data, size_t avail, BlockHeader* header);

// Parses the header and verifies the checksum; `data` must hold the whole block.
BlockCheck CheckBlock(const char* data, size_t avail, uint64_t salt, BlockHeader* header);

// Iterates the messages of a verified block's payload. Next() returns false at the end, and
// sets *error when the framing is inconsistent with the header (count or length mismatch).
class BlockMessageIterator {
 public:
  BlockMessageIterator(const char* payload, uint32_t payload_len, uint32_t count)
      : p_(payload), limit_(payload + payload_len), remaining_(count) {}
  bool Next(std::string_view* message, bool* error);
  uint32_t remaining() const { return remaining_; }

 private:
  const char* p_;
  const char* limit_;
  uint32_t remaining_;
};

// Appends one varint-framed message to a payload buffer at dst (room for
// kMaxVarint32Length + message.size()); returns the byte after it.
char* AppendFramedMessage(char* dst, std::string_view message);
size_t FramedMessageSize(size_t message_size);

}  // namespace meshq
