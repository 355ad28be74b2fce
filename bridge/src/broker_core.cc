// BrokerCore: PUT with dedupe, reads, consumer groups and their offsets.
#include "broker_core.h"

#include <algorithm>
#include <functional>

#include "meshq/bridge/frame.h"
#include "meshq/coding.h"
#include "stored_message.h"

namespace meshq::bridge {
namespace {

// Bounds one answer: the frame limit is 16 MiB, the engine's Get returns at most 4 MiB.
constexpr uint32_t kMaxMessagesPerAnswer = 4096;
constexpr size_t kMaxAnswerBytes = 4u << 20;

std::string GroupMapKey(std::string_view queue, std::string_view group) {
  std::string key(queue);
  key.push_back('\0');
  key.append(group);
  return key;
}

}  // namespace

std::string GroupMetadataKey(std::string_view queue, std::string_view group) {
  return "g/" + GroupMapKey(queue, group);
}

BrokerCore::BrokerCore(QueueStore* store, const BrokerOptions& options, bool restarted,
                       BrokerMetrics* metrics)
    : store_(store),
      metrics_(metrics),
      options_(options),
      started_(std::chrono::steady_clock::now()),
      restarted_(restarted),
      dedupe_(store, options.dedupe_window, options.dedupe_min_age),
      queue_locks_(64) {
  committer_ = std::make_unique<Committer>(
      [this](std::optional<FlushMode> flush, bool write_offsets) {
        return CommitRound(flush, write_offsets);
      },
      options.offset_commit_interval, options.commit_linger, metrics->commit_round_requests(),
      metrics->commit_round_seconds());
}

BrokerCore::~BrokerCore() { committer_->Stop(); }

Status BrokerCore::Recover() {
  Status s = dedupe_.Recover();
  if (!s.ok()) return s;
  // The log is as new as the journal or newer (written first): its records apply last, and
  // those the kill kept from the journal are journaled again, so the audit sees every hand-out.
  std::vector<JournalRecord> replay;
  s = AssignmentLog::Open(options_.dir, options_.dedupe_window, &assignments_, &replay);
  if (!s.ok()) return s;
  for (const JournalRecord& r : replay) {
    const uint64_t assignee = dedupe_.Lookup(r.id).assignee;
    if (r.kind == JournalKind::kAssignment && assignee != r.member) {
      s = dedupe_.RecordAssignment(r.id, r.member);
    } else if (r.kind == JournalKind::kRelease && assignee == r.member) {
      s = dedupe_.ReleaseAssignment(r.id, r.member);
    }
    if (!s.ok()) return s;
  }
  return Status::OK();
}

std::mutex& BrokerCore::QueueLock(std::string_view queue) {
  return queue_locks_[std::hash<std::string_view>()(queue) % queue_locks_.size()];
}

Status BrokerCore::Put(const PutRequest& request, uint8_t flags, std::string* reply_body,
                       bool* no_consumers) {
  *no_consumers = false;
  if (request.queue.empty() || request.queue.size() > kMaxQueueNameSize ||
      request.queue.starts_with(kReservedQueuePrefix)) {
    return Status::InvalidArgument("bad queue name");
  }
  if (flags & kPutFlagRequireConsumers) {
    std::shared_ptr<ConsumerGroup> g;
    Status s = GetGroup(request.queue, request.group, &g);
    if (!s.ok()) return s;
    if (!HasLiveMembers(*g)) {
      *no_consumers = true;
      return Status::OK();
    }
  }
  const bool is_reply = flags & kPutFlagReply;
  std::vector<PutResult> results(request.messages.size());
  std::vector<std::string> reply_queues;  // owns the reply_queue views of `results`
  reply_queues.reserve(request.messages.size());
  std::string stored;
  Status status;
  {
    std::lock_guard lock(QueueLock(request.queue));
    uint64_t offset = store_->QueueSize(request.queue);
    for (size_t i = 0; i < request.messages.size() && status.ok(); ++i) {
      const PutMessage& m = request.messages[i];
      PutResult& r = results[i];
      std::optional<DedupeWindow::Entry> seen;
      bool full = false;
      if (m.dedupe_id != 0) {
        if (is_reply) {
          seen = dedupe_.FindReply(m.dedupe_id);
          full = !seen && !dedupe_.Admits(m.dedupe_id);
        } else {
          seen = dedupe_.ClaimRequest(m.dedupe_id, &full);
        }
      }
      if (full) {
        metrics_->refused_dedupe_full()->Inc();
        status = Status::Busy("dedupe window full: " + std::to_string(options_.dedupe_window) +
                              " ids seen in the last " +
                              std::to_string(options_.dedupe_min_age.count()) + " ms");
        break;
      }
      if (seen) {
        r.outcome = seen->replied ? PutOutcome::kReplied : PutOutcome::kDuplicate;
        r.reply_offset = seen->reply_offset;
        reply_queues.push_back(std::move(seen->reply_queue));
        r.reply_queue = reply_queues.back();
        continue;
      }
      EncodeStoredMessage(m.dedupe_id, is_reply ? kMessageFlagReply : 0, m.payload, &stored);
      status = store_->Put(request.queue, stored);
      if (!status.ok()) {
        if (m.dedupe_id != 0 && !is_reply) dedupe_.Release(m.dedupe_id);
        break;
      }
      r.offset = offset++;
      if (m.dedupe_id != 0) {
        status = is_reply ? dedupe_.RecordReply(m.dedupe_id, request.queue, r.offset)
                          : dedupe_.JournalRequest(m.dedupe_id);
      }
    }
  }
  watch_.Notify(request.queue);
  if (!status.ok()) return status;
  EncodePutReply(results, reply_body);
  return Status::OK();
}

Status BrokerCore::Read(const ReadRequest& request, std::string* reply_body, uint32_t* count) {
  *count = 0;
  MessageBatch batch;
  uint32_t max = std::min(request.max_count, kMaxMessagesPerAnswer);
  Status s = store_->Get(request.queue, request.offset, max, &batch);
  if (!s.ok()) return s;
  size_t begin = reply_body->size();
  BeginMessagesReply(store_->QueueSize(request.queue), reply_body);
  for (size_t i = 0; i < batch.size(); ++i) {
    Message m;
    m.offset = request.offset + i;
    if (!DecodeStoredMessage(batch[i], &m.dedupe_id, &m.flags, &m.payload)) {
      return Status::Corruption("stored message without broker envelope");
    }
    AppendMessage(m, reply_body);
  }
  *count = static_cast<uint32_t>(batch.size());
  FinishMessagesReply(begin, *count, reply_body);
  return Status::OK();
}

Status BrokerCore::GetGroup(std::string_view queue, std::string_view group,
                            std::shared_ptr<ConsumerGroup>* out) {
  if (queue.empty() || queue.size() > kMaxQueueNameSize || group.empty() ||
      queue.size() + group.size() > 250) {
    return Status::InvalidArgument("bad queue or group name");
  }
  std::string key = GroupMapKey(queue, group);
  std::lock_guard lock(groups_mu_);
  auto it = groups_.find(key);
  if (it != groups_.end()) {
    *out = it->second;
    return Status::OK();
  }
  auto g = std::make_shared<ConsumerGroup>();
  g->queue = std::string(queue);
  g->group = std::string(group);
  g->metadata_key = GroupMetadataKey(queue, group);
  std::string value;
  Status s = store_->GetMetadata(g->metadata_key, &value);
  if (s.ok()) {
    if (value.size() != 8) return Status::Corruption("group offset of " + g->metadata_key);
    g->next = g->persisted = DecodeFixed64(value.data());
    g->had_persisted_offset = true;
  } else if (!s.IsNotFound()) {
    return s;
  }
  // What the store holds at open was read back from disk: durable.
  g->durable = std::max(g->persisted, store_->QueueSize(g->queue));
  g->created = std::chrono::steady_clock::now();
  idle_.push_back({g->created, g});
  groups_.emplace(std::move(key), g);
  *out = std::move(g);
  return Status::OK();
}

Status BrokerCore::LockGroup(std::string_view queue, std::string_view group,
                             std::shared_ptr<ConsumerGroup>* out,
                             std::unique_lock<std::mutex>* lock) {
  for (;;) {
    Status s = GetGroup(queue, group, out);
    if (!s.ok()) return s;
    *lock = std::unique_lock((*out)->mu);
    if (!(*out)->expired) return Status::OK();
    // Being forgotten: its persisted offset is its committed one, so a fresh load is the same.
    lock->unlock();
    DropExpired(*out);
  }
}

bool BrokerCore::HasLiveMembers(ConsumerGroup& g) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(g.mu);
  if (!g.members.empty()) return true;
  if (g.ever_had_member) return now - g.last_member_left < options_.responder_grace;
  // Right after a restart nobody has had the time to reconnect: every group gets the grace.
  return (restarted_ || g.had_persisted_offset) && now - started_ < options_.responder_grace;
}

Status BrokerCore::GroupFetch(ConnectionId conn, const GroupFetchRequest& request,
                              std::string* reply_body, uint32_t* count) {
  *count = 0;
  std::shared_ptr<ConsumerGroup> g;
  std::unique_lock<std::mutex> lock;
  Status s = LockGroup(request.queue, request.group, &g, &lock);
  if (!s.ok()) return s;
  const uint64_t member = request.member;
  const SteadyTime now = std::chrono::steady_clock::now();
  const uint64_t committed_before = g->CommittedLocked();
  if (g->members.insert(conn).second) {
    g->ever_had_member = true;
    std::lock_guard glock(groups_mu_);
    memberships_[conn].push_back(g);
  }
  // Holds that ran out go back to everyone; this member's own held messages come first.
  std::vector<uint64_t> own;
  for (auto it = g->held.begin(); it != g->held.end();) {
    if (it->second.until <= now) {
      g->redeliver.insert(it->first);
      it = g->held.erase(it);
    } else {
      if (member != 0 && it->second.member == member) own.push_back(it->first);
      ++it;
    }
  }
  const uint32_t max = std::min(request.max_count, kMaxMessagesPerAnswer);
  size_t begin = reply_body->size();
  uint64_t size = store_->QueueSize(g->queue);
  BeginMessagesReply(size, reply_body);
  MessageBatch batch;
  std::vector<JournalRecord> assignments;  // written before the answer leaves
  // Hands out one stored message unless the request it carries is already settled by a reply
  // (a redelivery after a restart): that one counts as acked without running again. An assigning
  // member takes a request assigned to another one only once `hold_over` (the hold ran out);
  // before that it is held for its assignee.
  auto deliver = [&](uint64_t offset, std::string_view stored, bool hold_over) -> Status {
    Message m;
    m.offset = offset;
    if (!DecodeStoredMessage(stored, &m.dedupe_id, &m.flags, &m.payload)) {
      return Status::Corruption("stored message without broker envelope");
    }
    const bool request_message = m.dedupe_id != 0 && !(m.flags & kMessageFlagReply);
    if (request_message) {
      DedupeWindow::Delivery d = dedupe_.Lookup(m.dedupe_id);
      if (d.replied) return Status::OK();
      if (d.assignee != 0 && d.assignee != member && !hold_over) {
        g->held[offset] = {d.assignee, started_ + options_.redelivery_hold};
        return Status::OK();
      }
      if (member != 0 && d.assignee != member) {
        assignments.push_back({JournalKind::kAssignment, m.dedupe_id, 0, {}, member});
      }
    }
    g->in_flight[offset] = {conn, member};
    AppendMessage(m, reply_body);
    ++*count;
    return Status::OK();
  };
  auto room = [&] {
    return s.ok() && *count < max && reply_body->size() - begin < kMaxAnswerBytes;
  };
  // This member's own held requests first. Its assignment may not have reached the disk if its
  // connection closed before the answer went out: the answer waits for a Flush as a new one does.
  for (size_t i = 0; i < own.size() && room(); ++i) {
    g->held.erase(own[i]);
    s = store_->Get(g->queue, own[i], 1, &batch);
    if (s.ok() && !batch.empty()) s = deliver(own[i], batch[0], true);
  }
  while (room() && !g->redeliver.empty()) {
    uint64_t offset = *g->redeliver.begin();
    g->redeliver.erase(g->redeliver.begin());
    s = store_->Get(g->queue, offset, 1, &batch);
    if (s.ok() && !batch.empty()) s = deliver(offset, batch[0], true);
  }
  // Past the restart's hold, what the journal assigned before it is anyone's.
  const bool restart_hold_over = now >= started_ + options_.redelivery_hold;
  while (room() && g->next < size) {
    s = store_->Get(g->queue, g->next, std::min<uint64_t>(max - *count, size - g->next), &batch);
    if (!s.ok() || batch.empty()) break;
    for (size_t i = 0; i < batch.size() && s.ok(); ++i) {
      s = deliver(g->next + i, batch[i], restart_hold_over);
    }
    g->next += batch.size();
  }
  FinishMessagesReply(begin, *count, reply_body);
  if (s.ok() && !assignments.empty()) s = RecordAssignments(assignments);
  if (!s.ok()) {
    // Nothing leaves without its assignment: what this answer held goes back to the group.
    MessagesReply handed;
    if (DecodeMessagesReply(std::string_view(*reply_body).substr(begin), &handed).ok()) {
      for (const Message& m : handed.messages) {
        g->in_flight.erase(m.offset);
        g->redeliver.insert(m.offset);
      }
    }
    reply_body->resize(begin);
    *count = 0;
  }
  const bool moved = g->CommittedLocked() != committed_before;
  lock.unlock();
  if (moved) MarkDirty(g);  // settled requests skipped past
  return s;
}

Status BrokerCore::Ack(const AckRequest& request, bool release, uint64_t* committed) {
  std::shared_ptr<ConsumerGroup> g;
  std::unique_lock<std::mutex> lock;
  Status s = LockGroup(request.queue, request.group, &g, &lock);
  if (!s.ok()) return s;
  {
    for (uint64_t offset : request.offsets) {
      auto it = g->in_flight.find(offset);
      if (release) {
        // Only what this group handed out and nobody acked goes back.
        if (it == g->in_flight.end()) continue;
        const uint64_t member = it->second.member;
        g->in_flight.erase(it);
        g->redeliver.insert(offset);
        if (member != 0) s = ReleaseAssignment(g->queue, offset, member);
        if (!s.ok()) break;
        continue;
      }
      if (it != g->in_flight.end()) g->in_flight.erase(it);
      g->redeliver.erase(offset);
      g->held.erase(offset);
    }
    *committed = g->CommittedLocked();
    lock.unlock();
  }
  if (release) {
    watch_.Notify(g->queue);
  } else {
    MarkDirty(g);
  }
  return s;
}

Status BrokerCore::ReleaseAssignment(const std::string& queue, uint64_t offset, uint64_t member) {
  MessageBatch batch;
  Status s = store_->Get(queue, offset, 1, &batch);
  if (!s.ok() || batch.empty()) return s;
  Message m;
  if (!DecodeStoredMessage(batch[0], &m.dedupe_id, &m.flags, &m.payload)) {
    return Status::Corruption("stored message without broker envelope");
  }
  if (m.dedupe_id == 0) return Status::OK();
  return RecordAssignments({{JournalKind::kRelease, m.dedupe_id, 0, {}, member}});
}

Status BrokerCore::RecordAssignments(const std::vector<JournalRecord>& records) {
  Status s = assignments_->Append(records);
  if (!s.ok()) return s;
  // The journal's copy is what `meshq audit` reads; it becomes durable with the next Flush.
  for (const JournalRecord& r : records) {
    s = r.kind == JournalKind::kAssignment ? dedupe_.RecordAssignment(r.id, r.member)
                                           : dedupe_.ReleaseAssignment(r.id, r.member);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

void BrokerCore::ConnectionClosed(ConnectionId conn) {
  std::vector<std::shared_ptr<ConsumerGroup>> groups;
  {
    std::lock_guard lock(groups_mu_);
    auto it = memberships_.find(conn);
    if (it == memberships_.end()) return;
    groups.swap(it->second);
    memberships_.erase(it);
  }
  for (auto& g : groups) {
    bool handed_back = false;
    {
      std::lock_guard lock(g->mu);
      g->members.erase(conn);
      if (g->members.empty()) {
        g->last_member_left = std::chrono::steady_clock::now();
        std::lock_guard glock(groups_mu_);
        idle_.push_back({g->last_member_left, g});
      }
      const SteadyTime until = std::chrono::steady_clock::now() + options_.redelivery_hold;
      for (auto it = g->in_flight.begin(); it != g->in_flight.end();) {
        if (it->second.conn == conn) {
          // An assigned request waits for its member to reconnect: it may have run it.
          if (it->second.member != 0) {
            g->held[it->first] = {it->second.member, until};
          } else {
            g->redeliver.insert(it->first);
            handed_back = true;
          }
          it = g->in_flight.erase(it);
        } else {
          ++it;
        }
      }
    }
    if (handed_back) watch_.Notify(g->queue);
  }
}

void BrokerCore::MarkDirty(const std::shared_ptr<ConsumerGroup>& g) {
  std::lock_guard lock(dirty_mu_);
  if (g->dirty) return;
  g->dirty = true;
  dirty_.push_back(g);
}

Status BrokerCore::CommitRound(std::optional<FlushMode> flush, bool write_offsets) {
  // Only the groups whose committed offset moved since it was last written: idle groups cost
  // nothing here, however many there are.
  std::vector<std::shared_ptr<ConsumerGroup>> groups;
  {
    std::lock_guard lock(dirty_mu_);
    if (write_offsets) {
      groups.swap(dirty_);
      for (auto& g : groups) g->dirty = false;
    } else {
      groups = dirty_;
    }
  }
  Status s = CommitGroups(groups, flush, write_offsets);
  if (write_offsets) ExpireIdleGroups(std::chrono::steady_clock::now());
  return s;
}

Status BrokerCore::CommitGroups(const std::vector<std::shared_ptr<ConsumerGroup>>& groups,
                                std::optional<FlushMode> flush, bool write_offsets) {
  // WRITTEN puts between offset cycles cost no fdatasync; one synced Flush per cycle covers them
  // all, so what a machine crash can take stays within a cycle (and recovery's rescan small).
  if (write_offsets && written_unsynced_) flush = FlushMode::kSync;
  // Offsets held back by durability need a synced Flush too (at most once per round): an offset
  // written past what the disk holds would skip messages after a machine crash.
  for (size_t i = 0; i < groups.size() && flush != FlushMode::kSync && write_offsets; ++i) {
    std::lock_guard lock(groups[i]->mu);
    if (groups[i]->CommittedLocked() > std::max(groups[i]->durable, groups[i]->persisted)) {
      flush = FlushMode::kSync;
    }
  }
  if (flush) {
    std::vector<uint64_t> sizes(groups.size());
    for (size_t i = 0; i < groups.size(); ++i) sizes[i] = store_->QueueSize(groups[i]->queue);
    const auto start = std::chrono::steady_clock::now();
    Status s = store_->Flush(*flush);  // everything counted in `sizes` was Put before this call
    metrics_->flush_seconds(*flush)->ObserveSince(start);
    if (!s.ok()) {
      if (write_offsets) {
        for (auto& g : groups) MarkDirty(g);
      }
      return s;
    }
    written_unsynced_ = *flush == FlushMode::kWrite;
    for (size_t i = 0; i < groups.size() && *flush == FlushMode::kSync; ++i) {
      std::lock_guard lock(groups[i]->mu);
      groups[i]->durable = std::max(groups[i]->durable, sizes[i]);
    }
  }
  // Between offset cycles a round only flushes: each offset written is a synced metadata write,
  // and a steady stream of FLUSH puts runs many rounds per offset cycle.
  if (!write_offsets) return Status::OK();
  Status first;
  for (auto& g : groups) {
    uint64_t offset;
    bool held_back;
    {
      std::lock_guard lock(g->mu);
      offset = g->PersistableLocked();
      held_back = offset != g->CommittedLocked();
    }
    // A group whose offset waits for durability stays listed for the next round.
    if (held_back) MarkDirty(g);
    if (offset == g->persisted) continue;
    char value[8];
    EncodeFixed64(value, offset);
    Status s = store_->PutMetadata(g->metadata_key, std::string_view(value, sizeof(value)));
    if (!s.ok()) {
      if (first.ok()) first = s;
      MarkDirty(g);
      continue;
    }
    std::lock_guard lock(g->mu);
    g->persisted = offset;
  }
  return first;
}

void BrokerCore::ExpireIdleGroups(SteadyTime now) {
  std::vector<std::shared_ptr<ConsumerGroup>> due;
  {
    std::lock_guard lock(groups_mu_);
    while (!idle_.empty() && now - idle_.front().since >= options_.group_expiry) {
      if (auto g = idle_.front().group.lock()) due.push_back(std::move(g));
      idle_.pop_front();
    }
  }
  for (auto& g : due) {
    {
      std::lock_guard lock(g->mu);
      // Forgotten only when nothing of it lives beyond its persisted offset: reloaded later, it
      // resumes exactly there. A group that had a member since is listed again when it leaves.
      const SteadyTime since = g->ever_had_member ? g->last_member_left : g->created;
      if (!g->members.empty() || now - since < options_.group_expiry) continue;
      if (!g->in_flight.empty() || !g->redeliver.empty() || !g->held.empty() ||
          g->CommittedLocked() != g->persisted) {
        std::lock_guard glock(groups_mu_);
        idle_.push_back({now, g});  // not yet: looked at again one expiry later
        continue;
      }
      g->expired = true;
    }
    DropExpired(g);
  }
}

void BrokerCore::DropExpired(const std::shared_ptr<ConsumerGroup>& g) {
  std::lock_guard lock(groups_mu_);
  auto it = groups_.find(GroupMapKey(g->queue, g->group));
  if (it != groups_.end() && it->second == g) groups_.erase(it);
}

size_t BrokerCore::group_count() {
  std::lock_guard lock(groups_mu_);
  return groups_.size();
}

}  // namespace meshq::bridge
