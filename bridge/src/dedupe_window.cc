// DedupeWindow: claims, replies, and their journal.
#include "dedupe_window.h"

#include "meshq/bridge/wire.h"
#include "meshq/coding.h"

namespace meshq::bridge {
namespace {

constexpr uint8_t kJournalRequest = 1;
constexpr uint8_t kJournalReply = 2;
constexpr std::string_view kGenerationKey = "dedupe/generation";

std::string JournalQueue(uint64_t generation) {
  return std::string(kReservedQueuePrefix) + "dedupe." + std::to_string(generation);
}

}  // namespace

Status DedupeWindow::Recover() {
  std::string value;
  Status s = store_->GetMetadata(kGenerationKey, &value);
  if (s.ok()) {
    if (value.size() != 8) return Status::Corruption("dedupe generation: bad length");
    generation_ = DecodeFixed64(value.data());
  } else if (!s.IsNotFound()) {
    return s;
  }
  journal_queue_ = JournalQueue(generation_);
  // The previous generation holds `capacity_` entries, the current one fewer: replay the
  // previous one's tail, then the current one.
  if (generation_ > 0) {
    std::string previous = JournalQueue(generation_ - 1);
    uint64_t size = store_->QueueSize(previous);
    uint64_t current = store_->QueueSize(journal_queue_);
    uint64_t want = current >= capacity_ ? 0 : capacity_ - current;
    s = Replay(previous, size > want ? size - want : 0);
    if (!s.ok()) return s;
  }
  return Replay(journal_queue_, 0);
}

Status DedupeWindow::Replay(const std::string& queue, uint64_t offset) {
  uint64_t size = store_->QueueSize(queue);
  MessageBatch batch;
  while (offset < size) {
    Status s = store_->Get(queue, offset, 4096, &batch);
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
        std::string_view queue_name;
        if (!r.U64(&entry.reply_offset) || !r.Str16(&queue_name)) {
          return Status::Corruption("dedupe journal: short reply entry");
        }
        entry.replied = true;
        entry.reply_queue = std::string(queue_name);
      }
      InsertLocked(id, std::move(entry));
    }
    offset += batch.size();
  }
  return Status::OK();
}

Status DedupeWindow::Append(std::string_view record) {
  std::lock_guard lock(journal_mu_);
  Status s = store_->Put(journal_queue_, record);
  if (!s.ok() || store_->QueueSize(journal_queue_) < capacity_) return s;
  char value[8];
  EncodeFixed64(value, generation_ + 1);
  s = store_->PutMetadata(kGenerationKey, std::string_view(value, sizeof(value)));
  if (!s.ok()) return s;
  journal_queue_ = JournalQueue(++generation_);
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
  return Append(record);
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
  Status s = Append(record);
  if (!s.ok()) return s;
  std::lock_guard lock(mu_);
  InsertLocked(id, Entry{true, offset, std::string(queue)});
  return Status::OK();
}

}  // namespace meshq::bridge
