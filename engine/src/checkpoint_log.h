// Checkpoint log: the engine's index metadata in RocksDB, as a sequence of records. Each Flush
// appends one record (split in parts of at most kPartBytes) holding the queues created and the
// block-list entries sealed since the previous one; Open replays them in order. Writing a few
// large values instead of a key per queue keeps a Flush over a million queues cheap. A clean
// Close compacts the log into one snapshot when the deltas outweigh the state they describe.
//
// Record part value: a sequence of entries (integers little-endian)
//   0x01 queue:  id u32, name length u8, name bytes
//   0x02 blocks: id u32, first block index u32, queue end offset u64, n u32, n x BlockRef
//   0x03 trim:   id u32, first kept offset u64, first kept block index u32 (format 2)
// Key: "c/" + seq (be64) + part (be32).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "block_list.h"
#include "block_ref.h"
#include "metadata_store.h"

namespace meshq {

class CheckpointVisitor {
 public:
  virtual ~CheckpointVisitor() = default;
  virtual Status OnQueue(uint32_t id, std::string_view name) = 0;
  virtual Status OnBlocks(uint32_t id, uint32_t first_block, uint64_t end_offset,
                          const BlockRef* refs, size_t n) = 0;
  // The queue's messages below `start` are trimmed and its blocks below `first_block` dropped.
  virtual Status OnTrim(uint32_t id, uint64_t start, uint32_t first_block) = 0;
  // Called before the entries of each record part, with the record's sequence number.
  virtual void OnRecord(uint64_t /*seq*/) {}
};

// Pure decoder of one record part; Corruption on any malformed entry.
Status DecodeCheckpointPart(std::string_view value, CheckpointVisitor* visitor);

class CheckpointWriter {
 public:
  static constexpr size_t kPartBytes = 4u << 20;
  explicit CheckpointWriter(uint64_t seq) : seq_(seq) {}

  void AddQueue(uint32_t id, std::string_view name);
  void AddBlocks(uint32_t id, uint32_t first_block, uint64_t end_offset, const BlockRef* refs,
                 size_t n);
  // Adds the entries [from, to) of queue `id`'s block list; `end` is the queue offset after entry
  // to - 1. One blocks entry per contiguous run of the list, each ending where the next run's
  // first block begins.
  void AddBlockList(uint32_t id, const BlockList& blocks, size_t from, size_t to, uint64_t end);
  void AddTrim(uint32_t id, uint64_t start, uint32_t first_block);
  // Moves the parts into the batch. Returns the bytes written.
  uint64_t Finish(MetadataStore::Batch* batch);
  bool empty() const { return parts_ == 0 && buf_.empty(); }

 private:
  void MaybeCut(MetadataStore::Batch* batch);
  const uint64_t seq_;
  uint32_t parts_ = 0;
  uint64_t bytes_ = 0;
  std::string buf_;
  std::vector<std::string> done_;
};

std::string CheckpointKey(uint64_t seq, uint32_t part);

// Replays every record in order. *next_seq gets the sequence number for the next record and
// *log_bytes the total size of the log.
Status ReplayCheckpoints(MetadataStore* meta, CheckpointVisitor* visitor, uint64_t* next_seq,
                         uint64_t* log_bytes);

}  // namespace meshq
