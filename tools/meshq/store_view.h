// StoreView: a read-only model of a meshq store on disk — its metadata (catalogue, block-list
// checkpoints, tails) and its segment files — for the `meshq` tool. It never writes: RocksDB is
// opened read-only and the segments with O_RDONLY, so it is safe on a store in use.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "block_format.h"
#include "block_ref.h"
#include "meshq/status.h"
#include "metadata_store.h"
#include "posix_file.h"
#include "segment_scan.h"

namespace meshq::cli {

struct ViewQueue {
  std::string name;
  uint32_t id = 0;
  uint32_t segment = 0;
  // Blocks in queue order: the checkpointed ones first (indexed_blocks of them), then those the
  // engine's next Open would adopt from the scan past the tails. Blocks a trim dropped are not
  // here: blocks[0] is the queue's block number `first_block`.
  std::vector<BlockRef> blocks;
  size_t indexed_blocks = 0;
  size_t first_block = 0;
  uint64_t start = 0;        // first kept offset (a trim's)
  uint64_t indexed_end = 0;  // messages covered by the checkpoint
  uint64_t count = 0;        // messages including adopted blocks
};

struct ViewSegment {
  std::string path;
  PosixFile file;
  bool present = false;
  uint64_t file_bytes = 0;
  uint64_t allocated_bytes = 0;  // st_blocks x 512: file_bytes less the holes
  bool has_tail = false;
  uint64_t tail = 0;  // checkpointed tail: every block below it is in the index
  // Valid blocks found at or past the tail, and how many of them the next Open would adopt.
  std::vector<ScannedBlock> past_tail;
  uint64_t adoptable = 0;
  ScanCounts past_tail_counts;
};

class StoreView {
 public:
  // Opens the store in `dir` read-only. InvalidArgument when `dir` is missing or is not a meshq
  // store (no meta/ database, or a database without the meshq format keys); IOError, Corruption
  // when it cannot be read. Structural problems of the index (gaps, unknown ids, malformed
  // entries) do not fail Open: they are collected in problems().
  Status Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  uint32_t segment_count() const { return static_cast<uint32_t>(segments_.size()); }
  uint64_t salt() const { return salt_; }
  const std::string& format() const { return format_; }
  // Queues by id (sorted by id).
  const std::map<uint32_t, ViewQueue>& queues() const { return queues_; }
  const ViewQueue* FindQueue(const std::string& name) const;
  ViewSegment& segment(uint32_t i) { return *segments_[i]; }
  const std::vector<std::string>& problems() const { return problems_; }

  // Reads and verifies the whole block at `unit` of segment `seg`: *check is the verdict
  // (kOk only when the checksum matches). Non-OK Status only for I/O errors.
  Status ReadBlock(uint32_t seg, uint32_t unit, std::string* buf, BlockHeader* header,
                   BlockCheck* check);

 private:
  // Replays the checkpoint log: the catalogue and every queue's checkpointed block list.
  Status LoadIndex();
  Status LoadSegments();
  // Mirrors the engine's recovery: adopts the blocks past the tails that continue their queue.
  void AdoptPastTail();

  std::string dir_;
  std::string format_;
  uint64_t salt_ = 0;
  std::map<uint32_t, ViewQueue> queues_;
  std::map<std::string, uint32_t> by_name_;
  std::vector<std::unique_ptr<ViewSegment>> segments_;
  std::vector<std::string> problems_;
  MetadataStore meta_;
};

// Queue names are arbitrary bytes: printable ASCII as is, anything else as \xNN.
std::string Printable(std::string_view bytes);

}  // namespace meshq::cli
