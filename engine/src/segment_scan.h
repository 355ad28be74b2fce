// Segment scan: finds the valid blocks in a region of a segment file. Recovery uses it to adopt
// blocks written after the last checkpoint; `meshq verify` uses it to check whole segments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "block_format.h"
#include "posix_file.h"

namespace meshq {

struct ScannedBlock {
  uint64_t offset;  // byte offset in the segment
  BlockHeader header;
};

struct ScanCounts {
  uint64_t bytes = 0;      // bytes examined
  uint64_t blocks = 0;     // valid blocks found
  uint64_t bad_units = 0;  // 1 KiB units with a magic but a bad header/checksum/truncation
};

// Pure function over bytes. `buf` holds file bytes starting at file offset `base` (1 KiB
// aligned). Appends every valid block that starts at a 1 KiB boundary to *out and returns the
// offset (relative to `buf`, a multiple of 1 KiB) where scanning should continue. That can be
// past `len` when the last block's zero padding lies beyond the buffer. A block whose payload
// runs past the end of `buf`
// stops the scan there (so the caller can continue from that offset with more bytes), unless
// `at_eof`, in which case it counts as bad and scanning continues after it.
size_t ScanBlocks(const char* buf, size_t len, uint64_t base, uint64_t salt, bool at_eof,
                  std::vector<ScannedBlock>* out, ScanCounts* counts);

// Scans [from, end of file) of a segment file; adds to *counts unless it is null.
Status ScanSegmentFile(const PosixFile& file, uint64_t from, uint64_t salt,
                       std::vector<ScannedBlock>* out, ScanCounts* counts = nullptr);

}  // namespace meshq
