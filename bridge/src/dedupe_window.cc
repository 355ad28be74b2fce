// DedupeWindow: claims, replies, and their journal.
#include "dedupe_window.h"

#include <algorithm>

#include "dedupe_journal.h"
#include "meshq/coding.h"

namespace meshq::bridge {
namespace {

constexpr std::string_view kGenerationKey = "dedupe/generation";

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
  journal_queue_ = DedupeJournalQueue(generation_);
  replay_time_ = std::chrono::steady_clock::now();
  // The previous generation holds `capacity_` records, the current one fewer. A call leaves up
  // to three records (request, assignment, reply), so both are replayed whole: the window keeps
  // the last `capacity_` ids of at least `capacity_` records, never fewer ids than before.
  if (generation_ > 0) {
    s = Replay(DedupeJournalQueue(generation_ - 1), 0);
    if (!s.ok()) return s;
  }
  return Replay(journal_queue_, 0);
}

Status DedupeWindow::Replay(const std::string& queue, uint64_t offset) {
  uint64_t size = store_->QueueSize(queue);
  // Retention trims only records of ids that have left the window.
  offset = std::max(offset, store_->QueueStart(queue));
  MessageBatch batch;
  while (offset < size) {
    Status s = store_->Get(queue, offset, 4096, &batch);
    if (!s.ok()) return s;
    if (batch.empty()) break;
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < batch.size(); ++i) {
      JournalRecord record;
      if (!DecodeJournalRecord(batch[i], &record)) {
        return Status::Corruption("dedupe journal: bad record at " + queue + " offset " +
                                  std::to_string(offset + i));
      }
      ApplyLocked(record);
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
  journal_queue_ = DedupeJournalQueue(++generation_);
  return Status::OK();
}

bool DedupeWindow::FullLocked(std::chrono::steady_clock::time_point now) const {
  return order_.size() >= capacity_ && !order_.empty() && now - order_.front().at < min_age_;
}

void DedupeWindow::InsertLocked(uint64_t id, Entry entry,
                                std::chrono::steady_clock::time_point seen) {
  auto [it, inserted] = entries_.try_emplace(id, std::move(entry));
  if (!inserted) {
    if (entry.replied) {
      entry.assignee = it->second.assignee;
      it->second = std::move(entry);
    }
    return;
  }
  order_.push_back(
      {id, seen, seen == std::chrono::steady_clock::time_point{} ? replay_time_ : seen});
  while (order_.size() > capacity_) {
    entries_.erase(order_.front().id);
    order_.pop_front();
  }
}

std::optional<DedupeWindow::Entry> DedupeWindow::ClaimRequest(uint64_t id, bool* full) {
  *full = false;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it != entries_.end()) {
    if (it->second.stored || it->second.replied) return it->second;
    it->second.stored = true;
    return std::nullopt;
  }
  if (FullLocked(now)) {
    *full = true;
    return std::nullopt;
  }
  Entry entry;
  entry.stored = true;
  InsertLocked(id, std::move(entry), now);
  return std::nullopt;
}

bool DedupeWindow::Admits(uint64_t id) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  return entries_.count(id) != 0 || !FullLocked(now);
}

void DedupeWindow::Release(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.replied) return;
  if (it->second.assignee != 0) {
    it->second.stored = false;  // keep whom it was handed to
  } else {
    entries_.erase(it);
  }
  // order_ keeps the id; eviction of an absent id is a no-op.
}

Status DedupeWindow::JournalRequest(uint64_t id) {
  std::string record;
  EncodeJournalRecord({JournalKind::kRequest, id}, &record);
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
  EncodeJournalRecord({JournalKind::kReply, id, offset, queue}, &record);
  Status s = Append(record);
  if (!s.ok()) return s;
  std::lock_guard lock(mu_);
  InsertLocked(id, Entry{true, offset, std::string(queue)}, std::chrono::steady_clock::now());
  return Status::OK();
}

void DedupeWindow::AssignLocked(uint64_t id, uint64_t member) {
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    InsertLocked(id, Entry{}, std::chrono::steady_clock::now());
    it = entries_.find(id);
    if (it == entries_.end()) return;  // a window of capacity 0
  }
  it->second.assignee = member;
}

void DedupeWindow::Replay(const JournalRecord& record) {
  std::lock_guard lock(mu_);
  ApplyLocked(record);
}

void DedupeWindow::ApplyLocked(const JournalRecord& record) {
  switch (record.kind) {
    case JournalKind::kAssignment:
      AssignLocked(record.id, record.member);
      break;
    case JournalKind::kRelease:
      UnassignLocked(record.id, record.member);
      break;
    case JournalKind::kReply:
      InsertLocked(record.id, Entry{true, record.reply_offset, std::string(record.reply_queue), 0});
      break;
    case JournalKind::kRequest: {
      auto it = entries_.find(record.id);
      if (it != entries_.end()) {
        it->second.stored = true;
      } else {
        Entry entry;
        entry.stored = true;
        InsertLocked(record.id, std::move(entry));
      }
      break;
    }
  }
}

void DedupeWindow::UnassignLocked(uint64_t id, uint64_t member) {
  auto it = entries_.find(id);
  if (it != entries_.end() && it->second.assignee == member) it->second.assignee = 0;
}

Status DedupeWindow::ReleaseAssignment(uint64_t id, uint64_t member) {
  std::string record;
  EncodeJournalRecord({JournalKind::kRelease, id, 0, {}, member}, &record);
  Status s = Append(record);
  if (!s.ok()) return s;
  std::lock_guard lock(mu_);
  UnassignLocked(id, member);
  return Status::OK();
}

void DedupeWindow::ExpireKeptBefore(std::chrono::steady_clock::time_point cutoff, size_t max) {
  std::lock_guard lock(mu_);
  for (size_t n = 0; n < max && !order_.empty() && order_.front().kept_since < cutoff; ++n) {
    entries_.erase(order_.front().id);
    order_.pop_front();
  }
}

std::chrono::steady_clock::time_point DedupeWindow::OldestKept() {
  std::lock_guard lock(mu_);
  return order_.empty() ? std::chrono::steady_clock::time_point::max() : order_.front().kept_since;
}

uint64_t DedupeWindow::generation() {
  std::lock_guard lock(journal_mu_);
  return generation_;
}

DedupeWindow::Delivery DedupeWindow::Lookup(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return {};
  return {it->second.replied, it->second.assignee};
}

void DedupeWindow::RecordHandOut(uint64_t id, uint64_t conn, uint32_t identity) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  it->second.handed_conn = conn;
  it->second.handed_identity = identity;
}

bool DedupeWindow::MayReply(uint64_t id, uint64_t conn, uint32_t identity) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.handed_conn == 0) return false;
  return it->second.handed_conn == conn ||
         (identity != 0 && it->second.handed_identity == identity);
}

Status DedupeWindow::RecordAssignment(uint64_t id, uint64_t member) {
  std::string record;
  EncodeJournalRecord({JournalKind::kAssignment, id, 0, {}, member}, &record);
  Status s = Append(record);
  if (!s.ok()) return s;
  std::lock_guard lock(mu_);
  AssignLocked(id, member);
  return Status::OK();
}

}  // namespace meshq::bridge
