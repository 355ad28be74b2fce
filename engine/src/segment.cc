// Segment reads (memory or file) and durability bookkeeping.
#include "segment.h"

#include <cstring>

namespace meshq {

void Segment::AddInFlight(const std::shared_ptr<WriteChunk>& chunk) {
  std::lock_guard<std::mutex> lock(in_flight_mu_);
  in_flight_[chunk->base] = chunk;
}

uint64_t Segment::GiveBack(WriteChunk* chunk) {
  // Under the in-flight lock so a reader never sees the chunk claim the range a new chunk may
  // be reserved in from now on.
  std::lock_guard<std::mutex> lock(in_flight_mu_);
  uint64_t end = chunk->base + chunk->reserved;
  const uint64_t new_end = chunk->base + WriteBytes(*chunk);
  if (new_end == end ||
      !reserved_end_.compare_exchange_strong(end, new_end, std::memory_order_acq_rel)) {
    return 0;
  }
  chunk->reserved = static_cast<uint32_t>(new_end - chunk->base);
  return new_end;
}

void Segment::RemoveInFlight(const WriteChunk* chunk) {
  std::lock_guard<std::mutex> lock(in_flight_mu_);
  auto it = in_flight_.find(chunk->base);
  if (it != in_flight_.end() && it->second.get() == chunk) in_flight_.erase(it);
}

Status Segment::ReadBlock(uint64_t offset, uint64_t salt, std::string* buf, BlockHeader* header,
                          size_t first_read) {
  std::shared_ptr<WriteChunk> chunk;
  {
    std::lock_guard<std::mutex> lock(in_flight_mu_);
    auto it = in_flight_.upper_bound(offset);
    if (it != in_flight_.begin()) {
      --it;
      if (offset < it->first + it->second->reserved) chunk = it->second;
    }
  }
  auto describe = [&](BlockCheck check) {
    return Status::Corruption(path_ + " at offset " + std::to_string(offset) + ": " +
                              BlockCheckName(check));
  };
  if (chunk) {
    // Sealed blocks in a chunk are immutable once indexed; the bytes after them may still be
    // being written by the slot owner, so read only this block's extent.
    const char* p = chunk->data + (offset - chunk->base);
    size_t avail = chunk->capacity - (offset - chunk->base);
    BlockCheck check = DecodeBlockHeader(p, avail, header);
    if (check != BlockCheck::kOk) return describe(check);
    size_t len = std::min<size_t>(avail, kBlockHeaderSize + header->payload_len);
    buf->assign(p, len);
  } else {
    buf->resize(first_read);
    size_t got = 0;
    Status s = file_.ReadAt(offset, first_read, buf->data(), &got);
    if (!s.ok()) return s;
    BlockCheck check = DecodeBlockHeader(buf->data(), got, header);
    if (check != BlockCheck::kOk) return describe(check);
    size_t need = kBlockHeaderSize + header->payload_len;
    if (need > got) {
      if (got < first_read) return describe(BlockCheck::kTruncated);
      buf->resize(need);
      size_t more = 0;
      s = file_.ReadAt(offset + got, need - got, buf->data() + got, &more);
      if (!s.ok()) return s;
      got += more;
      if (got < need) return describe(BlockCheck::kTruncated);
    }
    buf->resize(need);
  }
  BlockCheck check = CheckBlock(buf->data(), buf->size(), salt, header);
  if (check != BlockCheck::kOk) return describe(check);
  return Status::OK();
}

Status Segment::SyncIfDirty() {
  if (!dirty_.exchange(false, std::memory_order_acq_rel)) return Status::OK();
  Status s = file_.Sync();
  if (!s.ok()) dirty_.store(true, std::memory_order_release);
  return s;
}

}  // namespace meshq
