// SpaceRelease: gives the disk space of blocks no queue references any more back to the file
// system by punching holes in the segment files — the blocks a trim dropped (once the trim is
// durable) and the leftovers recovery discards. A punched range reads as zeros, which every scan
// treats as free space.
//
// Invariant the caller provides: nothing is ever written again below a segment's `tail` (the
// checkpointed tail after a synced Flush, or the end of the file during Open). Only ranges below
// it are released or widened, so a punch never races a write of the same range.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "metadata_store.h"
#include "segment.h"

namespace meshq {

// A block a trim dropped from its queue's list: where it is and which block it was.
struct DroppedBlock {
  uint32_t segment;
  uint32_t unit;
  uint32_t queue_id;
  uint32_t first_offset;
};

class SpaceReleaser {
 public:
  // `meta` gets one warning line when a file system first refuses hole punching or a punch
  // fails. Both outlive the releaser.
  SpaceReleaser(const std::vector<std::unique_ptr<Segment>>* segments, MetadataStore* meta);
  SpaceReleaser(const SpaceReleaser&) = delete;
  SpaceReleaser& operator=(const SpaceReleaser&) = delete;

  // Releases every dropped block still on disk as its queue had it (its header names that queue
  // and first offset; anything else — a range already released — is skipped). Adjacent blocks
  // are released in one punch. Sorts *blocks.
  void ReleaseDropped(std::vector<DroppedBlock>* blocks, const std::vector<uint64_t>& tails);
  // Releases [offset, offset + bytes) of segment `seg`, known to hold no referenced block.
  void ReleaseRange(uint32_t seg, uint64_t offset, uint64_t bytes, uint64_t tail);

  uint64_t released_blocks() const { return released_blocks_.load(std::memory_order_relaxed); }
  // Bytes of released blocks whose punch the file system carried out.
  uint64_t punched_bytes() const { return punched_bytes_.load(std::memory_order_relaxed); }
  // Bytes of released blocks that stay allocated: the file system refused hole punching
  // (EOPNOTSUPP) or a punch failed.
  uint64_t unpunched_bytes() const { return unpunched_bytes_.load(std::memory_order_relaxed); }

 private:
  // Punches [offset, offset + bytes), widened to whole file-system blocks over neighbours that
  // read as zeros (holes, padding, released blocks) below `tail`: a file system frees only the
  // whole blocks inside a punched range, so releasing 1 KiB blocks that share a 4 KiB file
  // system block one at a time would otherwise free nothing.
  void Punch(Segment* seg, uint64_t offset, uint64_t bytes, uint64_t tail);
  bool ReadsAsZeros(Segment* seg, uint64_t offset, uint64_t bytes);
  void WarnOnce(const std::string& line);

  const std::vector<std::unique_ptr<Segment>>& segments_;
  MetadataStore* const meta_;
  std::atomic<uint64_t> released_blocks_{0};
  std::atomic<uint64_t> punched_bytes_{0};
  std::atomic<uint64_t> unpunched_bytes_{0};
  std::atomic<bool> warned_{false};
};

}  // namespace meshq
