// Fuzz target: the engine's block decoders (DecodeBlockHeader, CheckBlock, BlockMessageIterator).
// Arbitrary bytes must never crash them; a header they accept must be self-consistent; and, with
// the checksum fixed up so the payload decoder is reached, what the iterator yields must survive
// a re-encode and decode unchanged.
#include <cstdint>
#include <string>
#include <vector>

#include "block_format.h"
#include "fuzz_check.h"
#include "hash.h"
#include "meshq/coding.h"
#include "meshq/options.h"

namespace {

constexpr uint64_t kSalt = 0x5EEDF00Dull;

// Iterates a verified block's payload; returns the messages when the framing is consistent.
bool Messages(const char* block, const meshq::BlockHeader& h, std::vector<std::string>* out) {
  meshq::BlockMessageIterator it(block + meshq::kBlockHeaderSize, h.payload_len, h.count);
  const char* begin = block + meshq::kBlockHeaderSize;
  const char* end = begin + h.payload_len;
  std::string_view m;
  bool error = false;
  while (it.Next(&m, &error)) {
    FUZZ_CHECK(m.data() >= begin && m.data() + m.size() <= end);
    out->emplace_back(m);
  }
  if (error) return false;
  FUZZ_CHECK(out->size() == h.count);
  return true;
}

void CheckDecodedBlock(const char* p, size_t size) {
  meshq::BlockHeader h;
  meshq::BlockCheck check = meshq::CheckBlock(p, size, kSalt, &h);
  if (check != meshq::BlockCheck::kOk) return;
  FUZZ_CHECK(h.count >= 1 && h.payload_len >= h.count);
  FUZZ_CHECK(meshq::kBlockHeaderSize + size_t{h.payload_len} <= size);
  FUZZ_CHECK(h.stored_bytes() % meshq::kBlockUnit == 0 &&
             h.stored_bytes() <= meshq::kMaxBlockBytes);
  std::vector<std::string> msgs;
  if (!Messages(p, h, &msgs)) return;

  // Re-encode what was decoded: a valid block with the same messages (the framing may differ:
  // the decoder accepts over-long varints, the encoder writes minimal ones).
  std::string payload;
  for (const auto& m : msgs) {
    char buf[meshq::kMaxVarint32Length];
    char* e = meshq::EncodeVarint32(buf, static_cast<uint32_t>(m.size()));
    payload.append(buf, static_cast<size_t>(e - buf));
    payload.append(m);
  }
  std::string block(meshq::BlockHeader::StoredBytes(static_cast<uint32_t>(payload.size())), '\0');
  meshq::EncodeBlock(block.data(), h.queue_id, h.first_offset, h.count, payload, kSalt);
  meshq::BlockHeader h2;
  FUZZ_CHECK(meshq::CheckBlock(block.data(), block.size(), kSalt, &h2) == meshq::BlockCheck::kOk);
  FUZZ_CHECK(h2.queue_id == h.queue_id && h2.first_offset == h.first_offset && h2.count == h.count);
  std::vector<std::string> again;
  FUZZ_CHECK(Messages(block.data(), h2, &again));
  FUZZ_CHECK(again == msgs);
  // One flipped bit anywhere in the checked range is detected.
  block[12 + payload.size() / 2] ^= 0x10;
  FUZZ_CHECK(meshq::CheckBlock(block.data(), block.size(), kSalt, &h2) != meshq::BlockCheck::kOk);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* p = reinterpret_cast<const char*>(data);
  meshq::BlockHeader h;
  meshq::BlockCheck header = meshq::DecodeBlockHeader(p, size, &h);
  if (header == meshq::BlockCheck::kOk) {
    FUZZ_CHECK(size >= meshq::kBlockHeaderSize);
    FUZZ_CHECK(h.count >= 1 && h.first_offset + h.count <= meshq::kMaxMessagesPerQueue);
  }
  CheckDecodedBlock(p, size);
  // Fix the checksum up so that the fuzzer reaches the payload decoder with any payload.
  if (header == meshq::BlockCheck::kOk && meshq::kBlockHeaderSize + size_t{h.payload_len} <= size) {
    std::string fixed(p, size);
    meshq::EncodeFixed64(
        fixed.data() + 4,
        meshq::Checksum(fixed.data() + 12, meshq::kBlockHeaderSize - 12 + h.payload_len, kSalt));
    meshq::BlockHeader h2;
    FUZZ_CHECK(meshq::CheckBlock(fixed.data(), fixed.size(), kSalt, &h2) == meshq::BlockCheck::kOk);
    CheckDecodedBlock(fixed.data(), fixed.size());
  }
  return 0;
}
