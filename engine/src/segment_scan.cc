// Segment scanning for recovery and verification.
#include "segment_scan.h"

#include <algorithm>
#include <string>

namespace meshq {

size_t ScanBlocks(const char* buf, size_t len, uint64_t base, uint64_t salt, bool at_eof,
                  std::vector<ScannedBlock>* out, ScanCounts* counts) {
  // Before the end of the file only whole units are examined; the caller re-reads the rest.
  const size_t limit = at_eof ? len : len - len % kBlockUnit;
  size_t pos = 0;
  while (pos < limit) {
    BlockHeader h;
    BlockCheck check = CheckBlock(buf + pos, len - pos, salt, &h);
    if (check == BlockCheck::kOk) {
      out->push_back({base + pos, h});
      counts->blocks++;
      pos += h.stored_bytes();
      continue;
    }
    if (check == BlockCheck::kTruncated && !at_eof) break;  // continue with more bytes
    if (check != BlockCheck::kNotABlock) counts->bad_units++;
    pos += kBlockUnit;
  }
  counts->bytes += std::min(pos, len);
  return pos;
}

Status ScanSegmentFile(const PosixFile& file, uint64_t from, uint64_t salt,
                       std::vector<ScannedBlock>* out, ScanCounts* counts) {
  ScanCounts unused;
  if (counts == nullptr) counts = &unused;
  uint64_t size = 0;
  Status s = file.Size(&size);
  if (!s.ok()) return s;
  constexpr size_t kWindow = 8u << 20;  // > kMaxBlockBytes, so any block fits one window
  if (from >= size) return Status::OK();
  std::string buf(static_cast<size_t>(std::min<uint64_t>(kWindow, size - from)), '\0');
  uint64_t pos = from;
  while (pos < size) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - pos));
    size_t got = 0;
    s = file.ReadAt(pos, want, buf.data(), &got);
    if (!s.ok()) return s;
    if (got == 0) break;
    bool at_eof = pos + got >= size;
    size_t used = ScanBlocks(buf.data(), got, pos, salt, at_eof, out, counts);
    if (used == 0) used = kBlockUnit;  // cannot happen with kWindow > kMaxBlockBytes; be safe
    pos += used;
  }
  return Status::OK();
}

}  // namespace meshq
