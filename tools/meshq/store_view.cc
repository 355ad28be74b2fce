// StoreView: loads a store's metadata read-only and models what the engine's next Open would
// serve (checkpointed block lists plus the blocks its recovery scan would adopt).
#include "store_view.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "checkpoint_log.h"
#include "hash.h"
#include "meshq/coding.h"
#include "queue_store_impl.h"

namespace meshq::cli {

std::string Printable(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && u != '\\') {
      out.push_back(c);
    } else {
      char esc[8];
      std::snprintf(esc, sizeof(esc), "\\x%02x", u);
      out += esc;
    }
  }
  return out;
}

Status StoreView::Open(const std::string& dir) {
  dir_ = dir;
  if (!PathExists(dir)) return Status::InvalidArgument(dir + ": no such directory");
  if (!PathExists(dir + "/meta/CURRENT")) {
    return Status::InvalidArgument(dir + ": not a meshq store (no meta/ database)");
  }
  Status s = meta_.Open(dir + "/meta", /*read_only=*/true);
  if (!s.ok()) return s;
  s = meta_.Get("o/format", &format_);
  if (s.IsNotFound()) {
    return Status::InvalidArgument(dir + ": not a meshq store (meta/ has no o/format key)");
  }
  if (!s.ok()) return s;
  if (format_ != "1" && format_ != std::to_string(kFormatVersion)) {
    return Status::InvalidArgument(dir + ": unsupported store format " + Printable(format_));
  }
  std::string value;
  s = meta_.Get("o/segments", &value);
  if (!s.ok()) return Status::Corruption(dir + ": metadata lacks o/segments");
  const unsigned long count = std::strtoul(value.c_str(), nullptr, 10);
  if (count == 0 || count > 1024 || (count & (count - 1)) != 0) {
    return Status::Corruption(dir + ": bad segment count " + Printable(value));
  }
  s = meta_.Get("o/salt", &value);
  if (!s.ok() || value.size() != 8) return Status::Corruption(dir + ": metadata lacks o/salt");
  salt_ = DecodeFixed64(value.data());
  for (uint32_t i = 0; i < count; ++i) {
    segments_.push_back(std::make_unique<ViewSegment>());
    segments_.back()->path = QueueStoreImpl::SegmentPath(dir, i);
  }
  s = LoadIndex();
  if (s.ok()) s = LoadSegments();
  if (!s.ok()) return s;
  AdoptPastTail();
  return Status::OK();
}

const ViewQueue* StoreView::FindQueue(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &queues_.at(it->second);
}

// The catalogue and the block lists both come from the engine's checkpoint log
// (engine/src/checkpoint_log.h); LoadIndex replays it once and records what it finds, and
// problems are collected instead of stopping at the first.
Status StoreView::LoadIndex() {
  struct Loader : CheckpointVisitor {
    StoreView* view;
    uint32_t mask;
    Status OnQueue(uint32_t id, std::string_view name_view) override {
      std::string name(name_view);
      if (view->queues_.count(id) != 0) {
        view->problems_.push_back("queue id " + std::to_string(id) + " is given to both '" +
                                  Printable(view->queues_[id].name) + "' and '" + Printable(name) +
                                  "'");
        return Status::OK();
      }
      ViewQueue q;
      q.name = name;
      q.id = id;
      q.segment = static_cast<uint32_t>(HashQueueName(name)) & mask;
      view->by_name_[name] = id;
      view->queues_.emplace(id, std::move(q));
      return Status::OK();
    }
    Status OnBlocks(uint32_t id, uint32_t first_block, uint64_t end_offset, const BlockRef* refs,
                    size_t n) override {
      auto it = view->queues_.find(id);
      if (it == view->queues_.end()) {
        view->problems_.push_back("block list for unknown queue id " + std::to_string(id));
        return Status::OK();
      }
      ViewQueue& q = it->second;
      if (first_block != q.first_block + q.blocks.size()) {
        view->problems_.push_back("queue '" + Printable(q.name) +
                                  "': block-list entry starts at block " +
                                  std::to_string(first_block) + " but " +
                                  std::to_string(q.first_block + q.blocks.size()) +
                                  " blocks precede it (gap or overlap in the index)");
        return Status::OK();
      }
      q.blocks.insert(q.blocks.end(), refs, refs + n);
      q.indexed_blocks = q.blocks.size();
      q.indexed_end = q.count = end_offset;
      return Status::OK();
    }
    Status OnTrim(uint32_t id, uint64_t start, uint32_t first_block) override {
      auto it = view->queues_.find(id);
      if (it == view->queues_.end()) {
        view->problems_.push_back("trim of unknown queue id " + std::to_string(id));
        return Status::OK();
      }
      // As the engine's recovery: blocks below first_block go, the size is at least the start.
      ViewQueue& q = it->second;
      if (first_block > q.first_block) {
        const size_t drop = std::min<size_t>(first_block - q.first_block, q.blocks.size());
        q.blocks.erase(q.blocks.begin(), q.blocks.begin() + static_cast<ptrdiff_t>(drop));
        q.first_block = first_block;
      }
      q.start = std::max(q.start, start);
      q.indexed_end = q.count = std::max(q.count, q.start);
      q.indexed_blocks = q.blocks.size();
      return Status::OK();
    }
  } loader;
  loader.view = this;
  loader.mask = segment_count() - 1;
  uint64_t next_seq = 0, log_bytes = 0;
  Status s = ReplayCheckpoints(&meta_, &loader, &next_seq, &log_bytes);
  if (s.IsCorruption()) {
    problems_.push_back(s.ToString());
    return Status::OK();
  }
  return s;
}

Status StoreView::LoadSegments() {
  for (uint32_t i = 0; i < segment_count(); ++i) {
    ViewSegment& seg = *segments_[i];
    std::string value;
    Status s = meta_.Get(MetadataStore::TailKey(i), &value);
    if (s.ok() && value.size() == 8) {
      seg.has_tail = true;
      seg.tail = DecodeFixed64(value.data());
    } else if (s.ok()) {
      problems_.push_back("tail of segment " + std::to_string(i) + " is malformed");
    } else if (!s.IsNotFound()) {
      return s;
    }
    if (!PathExists(seg.path)) {
      problems_.push_back(seg.path + ": segment file is missing");
      continue;
    }
    s = seg.file.OpenReadOnly(seg.path);
    if (!s.ok()) return s;
    seg.present = true;
    s = seg.file.Size(&seg.file_bytes);
    if (!s.ok()) return s;
    s = seg.file.Allocated(&seg.allocated_bytes);
    if (!s.ok()) return s;
    s = ScanSegmentFile(seg.file, seg.tail, salt_, &seg.past_tail, &seg.past_tail_counts);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

void StoreView::AdoptPastTail() {
  // Same rule as the engine's recovery: in (queue id, first offset) order, a block is adopted
  // only when it lives in its queue's segment and continues the queue exactly.
  std::vector<std::pair<uint32_t, const ScannedBlock*>> found;
  for (uint32_t i = 0; i < segment_count(); ++i) {
    for (const auto& b : segments_[i]->past_tail) found.emplace_back(i, &b);
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    if (a.second->header.queue_id != b.second->header.queue_id) {
      return a.second->header.queue_id < b.second->header.queue_id;
    }
    return a.second->header.first_offset < b.second->header.first_offset;
  });
  for (const auto& [seg, b] : found) {
    auto it = queues_.find(b->header.queue_id);
    if (it == queues_.end()) continue;
    ViewQueue& q = it->second;
    if (q.segment != seg || b->header.first_offset != q.count || b->header.first_offset < q.start)
      continue;
    q.blocks.push_back({static_cast<uint32_t>(b->offset / kBlockUnit),
                        static_cast<uint32_t>(b->header.first_offset)});
    q.count += b->header.count;
    segments_[seg]->adoptable++;
  }
}

Status StoreView::ReadBlock(uint32_t seg, uint32_t unit, std::string* buf, BlockHeader* header,
                            BlockCheck* check) {
  const PosixFile& file = segments_[seg]->file;
  const uint64_t offset = uint64_t{unit} * kBlockUnit;
  buf->resize(kBlockHeaderSize);
  size_t got = 0;
  Status s = file.ReadAt(offset, kBlockHeaderSize, buf->data(), &got);
  if (!s.ok()) return s;
  *check = DecodeBlockHeader(buf->data(), got, header);
  if (*check != BlockCheck::kOk) return Status::OK();
  const size_t need = kBlockHeaderSize + header->payload_len;
  buf->resize(need);
  s = file.ReadAt(offset, need, buf->data(), &got);
  if (!s.ok()) return s;
  *check = CheckBlock(buf->data(), got, salt_, header);
  return Status::OK();
}

}  // namespace meshq::cli
