// Checkpoint log encoding, decoding and replay.
#include "checkpoint_log.h"

#include <cstring>

#include "meshq/coding.h"
#include "meshq/options.h"

namespace meshq {

namespace {
constexpr char kQueueEntry = 0x01;
constexpr char kBlocksEntry = 0x02;
constexpr char kTrimEntry = 0x03;

}  // namespace

std::string CheckpointKey(uint64_t seq, uint32_t part) {
  std::string k = "c/";
  PutBigEndian64(&k, seq);
  PutBigEndian32(&k, part);
  return k;
}

Status DecodeCheckpointPart(std::string_view value, CheckpointVisitor* visitor) {
  const char* p = value.data();
  const char* end = p + value.size();
  auto corrupt = [](const char* what) {
    return Status::Corruption(std::string("checkpoint record: ") + what);
  };
  while (p < end) {
    const char type = *p++;
    if (type == kQueueEntry) {
      if (end - p < 5) return corrupt("truncated queue entry");
      uint32_t id = DecodeFixed32(p);
      auto len = static_cast<uint8_t>(p[4]);
      p += 5;
      if (len == 0 || end - p < len) return corrupt("bad queue name length");
      Status s = visitor->OnQueue(id, std::string_view(p, len));
      if (!s.ok()) return s;
      p += len;
    } else if (type == kBlocksEntry) {
      if (end - p < 20) return corrupt("truncated blocks entry");
      uint32_t id = DecodeFixed32(p);
      uint32_t first = DecodeFixed32(p + 4);
      uint64_t end_offset = DecodeFixed64(p + 8);
      uint32_t n = DecodeFixed32(p + 16);
      p += 20;
      if (n == 0 || static_cast<uint64_t>(end - p) < uint64_t{n} * sizeof(BlockRef)) {
        return corrupt("bad block count");
      }
      // Copy out: the value's bytes carry no alignment guarantee.
      std::vector<BlockRef> refs(n);
      std::memcpy(refs.data(), p, n * sizeof(BlockRef));
      Status s = visitor->OnBlocks(id, first, end_offset, refs.data(), n);
      if (!s.ok()) return s;
      p += n * sizeof(BlockRef);
    } else if (type == kTrimEntry) {
      if (end - p < 16) return corrupt("truncated trim entry");
      const uint32_t id = DecodeFixed32(p);
      const uint64_t start = DecodeFixed64(p + 4);
      const uint32_t first_block = DecodeFixed32(p + 12);
      p += 16;
      if (start > kMaxMessagesPerQueue) return corrupt("trim past the largest queue offset");
      Status s = visitor->OnTrim(id, start, first_block);
      if (!s.ok()) return s;
    } else {
      return corrupt("unknown entry type");
    }
  }
  return Status::OK();
}

void CheckpointWriter::AddQueue(uint32_t id, std::string_view name) {
  buf_.push_back(kQueueEntry);
  PutFixed32(&buf_, id);
  buf_.push_back(static_cast<char>(static_cast<uint8_t>(name.size())));
  buf_.append(name);
  if (buf_.size() >= kPartBytes) MaybeCut(nullptr);
}

void CheckpointWriter::AddBlocks(uint32_t id, uint32_t first_block, uint64_t end_offset,
                                 const BlockRef* refs, size_t n) {
  buf_.push_back(kBlocksEntry);
  PutFixed32(&buf_, id);
  PutFixed32(&buf_, first_block);
  PutFixed64(&buf_, end_offset);
  PutFixed32(&buf_, static_cast<uint32_t>(n));
  buf_.append(reinterpret_cast<const char*>(refs), n * sizeof(BlockRef));
  if (buf_.size() >= kPartBytes) MaybeCut(nullptr);
}

void CheckpointWriter::AddBlockList(uint32_t id, const BlockList& blocks, size_t from, size_t to,
                                    uint64_t end) {
  blocks.ForEachRun(from, to, [&](size_t first, const BlockRef* refs, size_t n) {
    const uint64_t run_end = first + n < to ? blocks[first + n].first_offset : end;
    AddBlocks(id, static_cast<uint32_t>(first), run_end, refs, n);
  });
}

void CheckpointWriter::AddTrim(uint32_t id, uint64_t start, uint32_t first_block) {
  buf_.push_back(kTrimEntry);
  PutFixed32(&buf_, id);
  PutFixed64(&buf_, start);
  PutFixed32(&buf_, first_block);
  if (buf_.size() >= kPartBytes) MaybeCut(nullptr);
}

void CheckpointWriter::MaybeCut(MetadataStore::Batch*) {
  if (buf_.empty()) return;
  bytes_ += buf_.size();
  done_.push_back(std::move(buf_));
  buf_.clear();
}

uint64_t CheckpointWriter::Finish(MetadataStore::Batch* batch) {
  MaybeCut(batch);
  for (auto& part : done_) batch->Put(CheckpointKey(seq_, parts_++), part);
  done_.clear();
  return bytes_;
}

Status ReplayCheckpoints(MetadataStore* meta, CheckpointVisitor* visitor, uint64_t* next_seq,
                         uint64_t* log_bytes) {
  *next_seq = 0;
  *log_bytes = 0;
  return meta->Scan("c/", [&](std::string_view key, std::string_view value) {
    if (key.size() != 14) return Status::Corruption("checkpoint key of a bad length");
    uint64_t seq =
        (uint64_t{DecodeBigEndian32(key.data() + 2)} << 32) | DecodeBigEndian32(key.data() + 6);
    *next_seq = seq + 1;
    *log_bytes += value.size();
    visitor->OnRecord(seq);
    return DecodeCheckpointPart(value, visitor);
  });
}

}  // namespace meshq
