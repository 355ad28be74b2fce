// DedupeWindow: claims, replies, and their journal.
#include "dedupe_window.h"

#include "meshq/bridge/wire.h"

namespace meshq::bridge {
namespace {

constexpr uint8_t kJournalRequest = 1;
constexpr uint8_t kJournalReply = 2;

}  // namespace

Status DedupeWindow::Recover() {
  uint64_t size = store_->QueueSize(kDedupeJournalQueue);
  uint64_t offset = size > capacity_ ? size - capacity_ : 0;
  MessageBatch batch;
  while (offset < size) {
    Status s = store_->Get(kDedupeJournalQueue, offset, 4096, &batch);
    if (!s.ok()) return s;
    if (batch.empty()) break;
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < batch.size(); ++i) {
      WireReader r(batch[i]);
      uint8_t kind = 0;
      uint64_t id = 0;
      if (!r.U8(&kind) || !r.U64(&id)) return Status::Corruption("dedupe journal: short entry");
      Entry entry;
      if (kind == kJournalReply) {
        std::string_view queue;
        if (!r.U64(&entry.reply_offset) || !r.Str16(&queue)) {
          return Status::Corruption("dedupe journal: short reply entry");
        }
        entry.replied = true;
        entry.reply_queue = std::string(queue);
      }
      InsertLocked(id, std::move(entry));
    }
    offset += batch.size();
  }
  return Status::OK();
}

void DedupeWindow::InsertLocked(uint64_t id, Entry entry) {
  auto [it, inserted] = entries_.try_emplace(id, std::move(entry));
  if (!inserted) {
    if (entry.replied) it->second = std::move(entry);
    return;
  }
  order_.push_back(id);
  while (order_.size() > capacity_) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<DedupeWindow::Entry> DedupeWindow::ClaimRequest(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it != entries_.end()) return it->second;
  InsertLocked(id, Entry{});
  return std::nullopt;
}

void DedupeWindow::Release(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it != entries_.end() && !it->second.replied) entries_.erase(it);
  // order_ keeps the id; eviction of an absent id is a no-op.
}

Status DedupeWindow::JournalRequest(uint64_t id) {
  std::string record;
  WireWriter w(&record);
  w.U8(kJournalRequest);
  w.U64(id);
  return store_->Put(kDedupeJournalQueue, record);
}

std::optional<DedupeWindow::Entry> DedupeWindow::FindReply(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || !it->second.replied) return std::nullopt;
  return it->second;
}

Status DedupeWindow::RecordReply(uint64_t id, std::string_view queue, uint64_t offset) {
  std::string record;
  WireWriter w(&record);
  w.U8(kJournalReply);
  w.U64(id);
  w.U64(offset);
  w.Str16(queue);
  Status s = store_->Put(kDedupeJournalQueue, record);
  if (!s.ok()) return s;
  std::lock_guard lock(mu_);
  InsertLocked(id, Entry{true, offset, std::string(queue)});
  return Status::OK();
}

}  // namespace meshq::bridge
