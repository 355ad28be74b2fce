// Fuzz target: the recovery scan (ScanBlocks). Whatever the bytes, every block it reports must
// verify, lie inside the buffer at a 1 KiB boundary, and not overlap the next; and scanning in two
// pieces (as ScanSegmentFile does with its window) must find exactly what one pass finds.
//
// Input: byte 0 = mode (bit 0 at_eof, bit 1 fix up checksums so valid blocks occur, bits 2..7
// the split point in KiB), then the segment bytes.
#include <cstdint>
#include <string>
#include <vector>

#include "block_format.h"
#include "fuzz_check.h"
#include "hash.h"
#include "meshq/coding.h"
#include "segment_scan.h"

namespace {

constexpr uint64_t kSalt = 0x5EEDF00Dull;
constexpr uint64_t kBase = 7 * meshq::kBlockUnit;

bool SameBlocks(const std::vector<meshq::ScannedBlock>& a,
                const std::vector<meshq::ScannedBlock>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].offset != b[i].offset || a[i].header.checksum != b[i].header.checksum) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const bool at_eof = mode & 1;
  std::string buf(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (mode & 2) {
    for (size_t pos = 0; pos + meshq::kBlockHeaderSize <= buf.size(); pos += meshq::kBlockUnit) {
      meshq::BlockHeader h;
      if (meshq::DecodeBlockHeader(buf.data() + pos, buf.size() - pos, &h) ==
              meshq::BlockCheck::kOk &&
          meshq::kBlockHeaderSize + size_t{h.payload_len} <= buf.size() - pos) {
        meshq::EncodeFixed64(buf.data() + pos + 4,
                             meshq::Checksum(buf.data() + pos + 12,
                                             meshq::kBlockHeaderSize - 12 + h.payload_len, kSalt));
      }
    }
  }

  std::vector<meshq::ScannedBlock> whole;
  meshq::ScanCounts counts;
  const size_t used =
      meshq::ScanBlocks(buf.data(), buf.size(), kBase, kSalt, at_eof, &whole, &counts);
  FUZZ_CHECK(used % meshq::kBlockUnit == 0);
  // The scan may end past the buffer only by skipping the zero padding of the last block it
  // found (the padding is not covered by the checksum, so it is never read).
  auto ends_last_block = [&](const std::vector<meshq::ScannedBlock>& found, uint64_t at) {
    return !found.empty() && found.back().offset + found.back().header.stored_bytes() == at;
  };
  if (!at_eof) FUZZ_CHECK(used <= buf.size() || ends_last_block(whole, kBase + used));
  FUZZ_CHECK(counts.blocks == whole.size());
  FUZZ_CHECK(counts.bytes <= buf.size());
  uint64_t prev_end = kBase;
  for (const auto& b : whole) {
    FUZZ_CHECK(b.offset >= prev_end && b.offset % meshq::kBlockUnit == 0);
    const size_t at = static_cast<size_t>(b.offset - kBase);
    FUZZ_CHECK(at < buf.size());
    meshq::BlockHeader h;
    FUZZ_CHECK(meshq::CheckBlock(buf.data() + at, buf.size() - at, kSalt, &h) ==
               meshq::BlockCheck::kOk);
    FUZZ_CHECK(h.first_offset == b.header.first_offset && h.count == b.header.count);
    prev_end = b.offset + h.stored_bytes();
  }

  // Two pieces: [0, split) not at the end of the file, then the rest from where it stopped (as
  // ScanSegmentFile continues with its next window).
  const size_t split = std::min<size_t>(static_cast<size_t>(mode >> 2) * meshq::kBlockUnit,
                                        buf.size() - buf.size() % meshq::kBlockUnit);
  std::vector<meshq::ScannedBlock> pieces;
  meshq::ScanCounts c1;
  size_t first = meshq::ScanBlocks(buf.data(), split, kBase, kSalt, false, &pieces, &c1);
  FUZZ_CHECK(first % meshq::kBlockUnit == 0);
  FUZZ_CHECK(first <= split || ends_last_block(pieces, kBase + first));
  if (first < buf.size()) {
    meshq::ScanBlocks(buf.data() + first, buf.size() - first, kBase + first, kSalt, at_eof, &pieces,
                      &c1);
  }
  FUZZ_CHECK(SameBlocks(whole, pieces));
  return 0;
}
