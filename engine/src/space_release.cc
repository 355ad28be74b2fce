// Hole punching for released blocks (see space_release.h).
#include "space_release.h"

#include <algorithm>
#include <cstring>

#include "block_format.h"

namespace meshq {

namespace {
// File-system blocks are assumed no larger than this when widening a punch (ext4 and xfs use
// 4 KiB); a larger st_blksize is treated as this, which only frees less.
constexpr uint64_t kMaxFsBlock = 64 * 1024;
}  // namespace

SpaceReleaser::SpaceReleaser(const std::vector<std::unique_ptr<Segment>>* segments,
                             MetadataStore* meta)
    : segments_(*segments), meta_(meta) {}

void SpaceReleaser::WarnOnce(const std::string& line) {
  if (warned_.exchange(true)) return;
  meta_->Warn(line);
}

void SpaceReleaser::ReleaseDropped(std::vector<DroppedBlock>* blocks,
                                   const std::vector<uint64_t>& tails) {
  std::sort(blocks->begin(), blocks->end(), [](const DroppedBlock& a, const DroppedBlock& b) {
    return a.segment != b.segment ? a.segment < b.segment : a.unit < b.unit;
  });
  // A run of adjacent blocks of one segment is punched as one range.
  uint32_t run_seg = 0;
  uint64_t run_begin = 0, run_end = 0;
  auto flush_run = [&] {
    if (run_end > run_begin)
      Punch(segments_[run_seg].get(), run_begin, run_end - run_begin, tails[run_seg]);
    run_begin = run_end = 0;
  };
  char header[kBlockHeaderSize];
  for (const DroppedBlock& b : *blocks) {
    Segment* seg = segments_[b.segment].get();
    const uint64_t offset = uint64_t{b.unit} * kBlockUnit;
    size_t got = 0;
    if (!seg->file().ReadAt(offset, sizeof(header), header, &got).ok()) continue;
    BlockHeader h;
    if (DecodeBlockHeader(header, got, &h) != BlockCheck::kOk || h.queue_id != b.queue_id ||
        h.first_offset != b.first_offset) {
      continue;  // released before (a punch that a crash interrupted is redone at Open)
    }
    const uint64_t end = offset + h.stored_bytes();
    if (end > tails[b.segment]) continue;  // cannot happen for a durable trim; be safe
    released_blocks_.fetch_add(1, std::memory_order_relaxed);
    seg->SubLive(h.stored_bytes());
    if (b.segment != run_seg || offset != run_end) {
      flush_run();
      run_seg = b.segment;
      run_begin = offset;
    }
    run_end = end;
  }
  flush_run();
}

void SpaceReleaser::ReleaseRange(uint32_t seg, uint64_t offset, uint64_t bytes, uint64_t tail) {
  released_blocks_.fetch_add(1, std::memory_order_relaxed);
  Punch(segments_[seg].get(), offset, bytes, tail);
}

bool SpaceReleaser::ReadsAsZeros(Segment* seg, uint64_t offset, uint64_t bytes) {
  char buf[kMaxFsBlock];
  size_t got = 0;
  if (!seg->file().ReadAt(offset, static_cast<size_t>(bytes), buf, &got).ok()) return false;
  // Past the end of the file reads as zeros too.
  for (size_t i = 0; i < got; ++i) {
    if (buf[i] != 0) return false;
  }
  return true;
}

void SpaceReleaser::Punch(Segment* seg, uint64_t offset, uint64_t bytes, uint64_t tail) {
  uint64_t fs_block = seg->fs_block_size();
  if (fs_block < kBlockUnit || fs_block > kMaxFsBlock || (fs_block & (fs_block - 1)) != 0) {
    fs_block = kBlockUnit;  // no widening
  }
  uint64_t begin = offset, end = offset + bytes;
  const uint64_t wide_begin = begin / fs_block * fs_block;
  const uint64_t wide_end = (end + fs_block - 1) / fs_block * fs_block;
  if (wide_begin < begin && ReadsAsZeros(seg, wide_begin, begin - wide_begin)) begin = wide_begin;
  if (end < wide_end && wide_end <= tail && ReadsAsZeros(seg, end, wide_end - end)) end = wide_end;
  bool unsupported = false;
  Status s = seg->file().PunchHole(begin, end - begin, &unsupported);
  if (s.ok() && !unsupported) {
    punched_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    return;
  }
  unpunched_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  if (unsupported) {
    WarnOnce(seg->path() +
             ": the file system does not support hole punching (fallocate PUNCH_HOLE); trimmed "
             "and discarded blocks keep their disk space (StoreStats::unpunched_bytes)");
  } else {
    WarnOnce("releasing trimmed space: " + s.ToString() +
             " (the space stays allocated; data is unaffected)");
  }
}

}  // namespace meshq
