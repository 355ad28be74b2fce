// BrokerCore: PUT with dedupe, reads, consumer groups and their offsets.
#include "broker_core.h"

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <functional>

#include "meshq/bridge/frame.h"
#include "meshq/bridge/wire.h"
#include "meshq/coding.h"
#include "stored_message.h"

namespace meshq::bridge {
namespace {

constexpr std::string_view kJournalFloorKey = "dedupe/first-generation";
// Work of one retention round: queues visited (whole stripes until this many; every queue of a
// broker with fewer), catalogue positions looked at for queues not tracked yet, dedupe ids
// forgotten.
constexpr size_t kQueuesPerRound = size_t{1} << 16;
constexpr size_t kListedPerRound = 4096;
constexpr size_t kExpiredIdsPerRound = size_t{1} << 18;

constexpr std::chrono::seconds kHeapTrimInterval{10};

std::string GroupListKey(std::string_view queue) { return "gl/" + std::string(queue); }

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
                       BrokerMetrics* metrics, std::unique_ptr<AuditKey> audit_key)
    : store_(store),
      metrics_(metrics),
      options_(options),
      started_(std::chrono::steady_clock::now()),
      restarted_(restarted),
      audit_key_(std::move(audit_key)),
      dedupe_(store, options.dedupe_window, options.dedupe_min_age),
      stripes_(64),
      retention_{options.retention, options.retention_bytes} {
  committer_ = std::make_unique<Committer>(
      [this](std::optional<FlushMode> flush, bool write_offsets) {
        return CommitRound(flush, write_offsets);
      },
      options.offset_commit_interval, options.commit_linger, metrics->commit_round_requests(),
      metrics->commit_round_seconds(), options.commit_pace);
  sweeper_ = std::make_unique<Sweeper>(
      [this] { RetentionRound(std::chrono::steady_clock::now()); },
      retention_.enabled() ? options.retention_round : std::chrono::milliseconds(0));
}

BrokerCore::~BrokerCore() {
  sweeper_->Stop();
  committer_->Stop();
}

Status BrokerCore::Recover() {
  Status s = dedupe_.Recover();
  if (!s.ok()) return s;
  std::string floor;
  s = store_->GetMetadata(kJournalFloorKey, &floor);
  if (s.ok() && floor.size() == 8) {
    journal_floor_ = journal_tracked_ = DecodeFixed64(floor.data());
  } else if (!s.ok() && !s.IsNotFound()) {
    return s;
  }
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

BrokerCore::Stripe& BrokerCore::StripeOf(std::string_view queue) {
  return stripes_[std::hash<std::string_view>()(queue) % stripes_.size()];
}

RetainedQueue& BrokerCore::RetainedLocked(Stripe& stripe, std::string_view queue, SteadyTime now) {
  auto it = stripe.retained.find(std::string(queue));
  if (it == stripe.retained.end()) {
    it = stripe.retained.emplace(std::string(queue), RetainedQueue(store_->QueueSize(queue), now))
             .first;
  }
  return it->second;
}

Status BrokerCore::GetKept(std::string_view queue, uint64_t offset, uint64_t max,
                           MessageBatch* batch, uint64_t* first) {
  Status s = store_->Get(queue, offset, max, batch);
  // The engine answers from its first kept offset when a trim passed `offset` (also one racing
  // this Get) and says where it started.
  *first = batch->empty() ? std::max(offset, store_->QueueStart(queue)) : batch->first_offset();
  return s;
}

uint32_t BrokerCore::InternIdentity(std::string_view identity) {
  if (identity.empty()) return 0;
  std::lock_guard lock(identities_mu_);
  auto [it, inserted] =
      identities_.try_emplace(std::string(identity), static_cast<uint32_t>(identities_.size() + 1));
  return it->second;
}

Status BrokerCore::DigestAt(std::string_view queue, uint64_t offset, std::string* digest) {
  MessageBatch batch;
  uint64_t first = 0;
  Status s = GetKept(queue, offset, 1, &batch, &first);
  if (!s.ok()) return s;
  if (batch.empty() || first != offset) return Status::NotFound("not kept");
  StoredMessage m;
  if (!DecodeStoredMessage(batch[0], &m)) {
    return Status::Corruption("stored message of an unknown format");
  }
  *digest = (m.flags & kStoredFlagChained) ? std::string(m.digest) : kChainGenesis;
  return Status::OK();
}

Status BrokerCore::WriteAnchor(const std::string& queue, uint64_t offset, std::string digest) {
  ChainAnchor a;
  a.offset = offset;
  a.mac = audit_key_->AnchorMac(queue, offset, digest);
  a.digest = std::move(digest);
  std::string value;
  EncodeChainAnchor(a, &value);
  return store_->PutMetadata(ChainAnchorKey(queue), value);
}

Status BrokerCore::Anchor(std::string_view queue, ChainAnchor* anchor, bool* found) {
  *found = false;
  std::string value;
  Status s = store_->GetMetadata(ChainAnchorKey(queue), &value);
  if (s.IsNotFound()) return Status::OK();
  if (!s.ok()) return s;
  if (!DecodeChainAnchor(value, anchor)) return Status::Corruption("malformed chain anchor");
  *found = true;
  return Status::OK();
}

Status BrokerCore::ChainHeadLocked(Stripe& stripe, const std::string& queue, uint64_t offset,
                                   Stripe::ChainHead** head) {
  auto it = stripe.chain_heads.find(queue);
  if (it != stripe.chain_heads.end() && it->second.next == offset) {
    *head = &it->second;
    return Status::OK();
  }
  Stripe::ChainHead h{offset, kChainGenesis};
  if (offset > 0) {
    // The last message may go to a trim racing this: its anchor is written before the trim.
    Status s = DigestAt(queue, offset - 1, &h.digest);
    if (s.IsNotFound()) {
      ChainAnchor a;
      bool found = false;
      s = Anchor(queue, &a, &found);
      if (!s.ok()) return s;
      if (found && a.offset == offset) {
        h.digest = a.digest;
      } else {
        // Trimmed to empty before the store had a key: the chain starts here, and says so.
        h.digest = kChainGenesis;
        s = WriteAnchor(queue, offset, h.digest);
      }
    }
    if (!s.ok()) return s;
  }
  *head = &(stripe.chain_heads[queue] = std::move(h));
  return Status::OK();
}

Status BrokerCore::Put(const Caller& caller, const PutRequest& request, uint8_t flags,
                       std::string* reply_body, bool* no_consumers, bool* unbound) {
  *no_consumers = false;
  *unbound = false;
  if (request.queue.empty() || request.queue.size() > kMaxQueueNameSize ||
      request.queue.starts_with(kReservedQueuePrefix)) {
    return Status::InvalidArgument("bad queue name");
  }
  // A reply settles a call: only the responder handed the request may store it.
  if ((flags & kPutFlagReply) && options_.bind_replies) {
    for (const PutMessage& m : request.messages) {
      if (m.dedupe_id == 0 || !dedupe_.MayReply(m.dedupe_id, caller.conn, caller.identity_id)) {
        *unbound = true;
        return Status::OK();
      }
    }
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
    Stripe& stripe = StripeOf(request.queue);
    std::lock_guard lock(stripe.mu);
    uint64_t offset = store_->QueueSize(request.queue);
    Stripe::ChainHead* chain = nullptr;
    if (audit_key_) {
      const std::string queue(request.queue);
      status = ChainHeadLocked(stripe, queue, offset, &chain);
      if (!status.ok()) return status;
    }
    StoredMessage sm;
    sm.flags = is_reply ? kMessageFlagReply : 0;
    if (!caller.identity.empty()) {
      sm.flags |= kStoredFlagAttributed;
      sm.identity = caller.identity;
    }
    if (chain) sm.flags |= kStoredFlagChained;
    std::string digest;
    RetainedQueue* retained = nullptr;
    if (retention_.enabled()) {
      const SteadyTime now = std::chrono::steady_clock::now();
      retained = &RetainedLocked(stripe, request.queue, now);
      retained->Written(now);
      if (is_reply) retained->window_bound = true;
    }
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
      sm.dedupe_id = m.dedupe_id;
      sm.payload = m.payload;
      if (chain) {
        digest = audit_key_->Chain(chain->digest, request.queue, offset, sm);
        sm.digest = digest;
      }
      EncodeStoredMessage(sm, &stored);
      status = store_->Put(request.queue, stored);
      if (!status.ok()) {
        if (m.dedupe_id != 0 && !is_reply) dedupe_.Release(m.dedupe_id);
        break;
      }
      if (chain) {
        chain->digest = std::move(digest);
        chain->next = offset + 1;
      }
      r.offset = offset++;
      if (retained) retained->Stored(stored.size());
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

Status BrokerCore::Read(const ReadRequest& request, std::string* reply_body, uint32_t* count,
                        uint8_t flags) {
  *count = 0;
  MessageBatch batch;
  uint32_t max = std::min(request.max_count, kMaxMessagesPerAnswer);
  uint64_t first = 0;
  Status s = GetKept(request.queue, request.offset, max, &batch, &first);
  if (!s.ok()) return s;
  size_t begin = reply_body->size();
  BeginMessagesReply(store_->QueueSize(request.queue), reply_body);
  // The broker's own queues (the dedupe journal) hold records without the envelope: their
  // first bytes are split off as one, as they always were, for the readers that join them back.
  const bool own = request.queue.starts_with(kReservedQueuePrefix);
  for (size_t i = 0; i < batch.size(); ++i) {
    Message m;
    m.offset = first + i;
    if (own && batch[i].size() >= kEnvelopeSize) {
      m.dedupe_id = DecodeFixed64(batch[i].data());
      m.flags = static_cast<uint8_t>(batch[i][8]);
      m.payload = batch[i].substr(kEnvelopeSize);
    } else if (!DecodeStoredMessage(batch[i], &m.dedupe_id, &m.flags, &m.payload)) {
      return Status::Corruption("stored message without broker envelope, or of a newer format");
    }
    if (flags & kReadFlagStored) m.payload = batch[i];
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
  if (retention_.enabled()) {
    // Its committed offset bounds what the retention may trim of the queue.
    Stripe& stripe = StripeOf(g->queue);
    std::lock_guard slock(stripe.mu);
    RetainedLocked(stripe, g->queue, g->created).groups.push_back(g);
  }
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

Status BrokerCore::GroupFetch(const Caller& caller, const GroupFetchRequest& request,
                              std::string* reply_body, uint32_t* count) {
  *count = 0;
  const ConnectionId conn = caller.conn;
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
      return Status::Corruption("stored message without broker envelope, or of a newer format");
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
      dedupe_.RecordHandOut(m.dedupe_id, conn, caller.identity_id);
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
  // A message the retention trimmed (only ever one this group had acked, or of a group that was
  // forgotten) is gone: nothing to hand out.
  uint64_t first = 0;
  for (size_t i = 0; i < own.size() && room(); ++i) {
    g->held.erase(own[i]);
    s = GetKept(g->queue, own[i], 1, &batch, &first);
    if (s.ok() && !batch.empty() && first == own[i]) s = deliver(own[i], batch[0], true);
  }
  while (room() && !g->redeliver.empty()) {
    uint64_t offset = *g->redeliver.begin();
    g->redeliver.erase(g->redeliver.begin());
    s = GetKept(g->queue, offset, 1, &batch, &first);
    if (s.ok() && !batch.empty() && first == offset) s = deliver(offset, batch[0], true);
  }
  // Past the restart's hold, what the journal assigned before it is anyone's.
  const bool restart_hold_over = now >= started_ + options_.redelivery_hold;
  while (room() && g->next < size) {
    s = GetKept(g->queue, g->next, std::min<uint64_t>(max - *count, size - g->next), &batch,
                &first);
    if (!s.ok()) break;
    g->next = std::max(g->next, first);
    if (batch.empty()) break;
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
  uint64_t first = 0;
  Status s = GetKept(queue, offset, 1, &batch, &first);
  if (!s.ok() || batch.empty() || first != offset) return s;
  Message m;
  if (!DecodeStoredMessage(batch[0], &m.dedupe_id, &m.flags, &m.payload)) {
    return Status::Corruption("stored message without broker envelope, or of a newer format");
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
    if (!g->listed) {
      Status l = ListGroup(*g);
      if (!l.ok()) {
        if (first.ok()) first = l;
        MarkDirty(g);
        continue;
      }
    }
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

Status BrokerCore::ListGroup(ConsumerGroup& g) {
  // The value: the queue's group names, each a str16.
  const std::string key = GroupListKey(g.queue);
  std::string value;
  Status s = store_->GetMetadata(key, &value);
  if (!s.ok() && !s.IsNotFound()) return s;
  WireReader r(value);
  std::string_view name;
  while (r.Str16(&name)) {
    if (name == g.group) {
      g.listed = true;
      return Status::OK();
    }
  }
  WireWriter w(&value);
  w.Str16(g.group);
  s = store_->PutMetadata(key, value);
  if (s.ok()) g.listed = true;
  return s;
}

void BrokerCore::LoadListedGroups(const std::string& queue) {
  std::string value;
  if (!store_->GetMetadata(GroupListKey(queue), &value).ok()) return;
  WireReader r(value);
  std::string_view name;
  while (r.Str16(&name)) {
    std::shared_ptr<ConsumerGroup> g;
    (void)GetGroup(queue, name, &g);  // registers it with the queue's retained record
  }
}

uint64_t BrokerCore::TrimQueue(const std::string& queue, uint64_t cut,
                               const std::vector<std::weak_ptr<ConsumerGroup>>& groups) {
  // A group's committed offset never moves back: trimming below what was read here stays below
  // what it has not acknowledged.
  for (const auto& weak : groups) {
    if (auto g = weak.lock()) {
      std::lock_guard lock(g->mu);
      if (!g->expired) cut = std::min(cut, g->CommittedLocked());
    }
  }
  cut = std::min(cut, store_->QueueSize(queue));
  const uint64_t start = store_->QueueStart(queue);
  if (cut <= start) return 0;
  Status s;
  if (audit_key_ && !queue.starts_with(kReservedQueuePrefix)) {
    // The anchor first: a verifier must find the cut's digest once the prefix is gone. A crash
    // between the two leaves the anchor above the first kept message, which a verifier accepts
    // (the messages below it were being trimmed).
    std::string digest;
    s = DigestAt(queue, cut - 1, &digest);
    if (s.ok()) s = WriteAnchor(queue, cut, std::move(digest));
    if (!s.ok()) {
      std::fprintf(stderr, "meshq-broker: retention: anchor of %s at %llu: %s\n", queue.c_str(),
                   static_cast<unsigned long long>(cut), s.ToString().c_str());
      return 0;
    }
  }
  s = store_->Trim(queue, cut);
  if (!s.ok()) {
    std::fprintf(stderr, "meshq-broker: retention: trim %s to %llu: %s\n", queue.c_str(),
                 static_cast<unsigned long long>(cut), s.ToString().c_str());
    return 0;
  }
  return cut - start;
}

void BrokerCore::TrackJournal(SteadyTime now) {
  const uint64_t current = dedupe_.generation();
  // Generations trimmed to empty are done with; the floor is kept so a restart starts there.
  const uint64_t floor_before = journal_floor_;
  while (journal_floor_ < current) {
    const std::string q = DedupeJournalQueue(journal_floor_);
    if (store_->QueueStart(q) < store_->QueueSize(q)) break;
    ++journal_floor_;
  }
  if (journal_floor_ != floor_before) {
    char value[8];
    EncodeFixed64(value, journal_floor_);
    (void)store_->PutMetadata(kJournalFloorKey, std::string_view(value, sizeof(value)));
  }
  for (uint64_t gen = std::max(journal_tracked_, journal_floor_); gen <= current; ++gen) {
    const std::string q = DedupeJournalQueue(gen);
    Stripe& stripe = StripeOf(q);
    std::lock_guard lock(stripe.mu);
    RetainedQueue& r = RetainedLocked(stripe, q, now);
    r.window_bound = true;
    r.groups_loaded = true;  // nobody consumes the journal through a group
  }
  // The current one is looked at again (a fully trimmed, idle one may have been forgotten).
  journal_tracked_ = current;
}

void BrokerCore::DiscoverQueues(SteadyTime now) {
  std::vector<std::string> names;
  uint64_t next = 0;
  if (!store_->ListQueues(list_cursor_, kListedPerRound, &names, &next).ok()) return;
  // A short page is the end of the catalogue: the next round starts over.
  list_cursor_ = next - list_cursor_ < kListedPerRound ? 0 : next;
  for (const std::string& q : names) {
    Stripe& stripe = StripeOf(q);
    std::lock_guard lock(stripe.mu);
    if (stripe.retained.contains(q)) continue;
    const uint64_t size = store_->QueueSize(q);
    if (store_->QueueStart(q) >= size) continue;  // holds nothing (a forgotten record's queue)
    // What it holds counts as stored now. It may hold replies or journal records (kept while
    // the dedupe window may need them), and groups may be listed for it (loaded before its
    // first trim).
    RetainedQueue& r = stripe.retained.emplace(q, RetainedQueue(size, now)).first->second;
    r.window_bound = true;
    ++discovered_queues_;
  }
}

void BrokerCore::RetentionRound(SteadyTime now) {
  ++retention_rounds_;
  // Ids are remembered at least as long as the retention keeps their replies and records, and
  // never shorter than the dedupe and redelivery guarantees ask.
  const auto window_age =
      std::max({retention_.age, options_.dedupe_min_age, options_.redelivery_hold});
  if (retention_.age.count() > 0) dedupe_.ExpireKeptBefore(now - window_age, kExpiredIdsPerRound);
  const SteadyTime window_floor = dedupe_.OldestKept();
  TrackJournal(now);
  // Fine enough that the age rule keeps at most a 64th more than it must.
  const auto gap = std::max(options_.retention_round, retention_.age / 64);
  // A record trimmed to empty, without groups and unwritten this long is forgotten.
  const auto forget_after =
      std::max<std::chrono::milliseconds>(retention_.age, std::chrono::minutes(1));
  struct Due {
    std::string queue;
    uint64_t cut;
    std::vector<std::weak_ptr<ConsumerGroup>> groups;
    bool load_groups;
  };
  DiscoverQueues(now);
  std::vector<Due> due;
  // Every queue is marked once a round (so a trim never lags a mark by more than a round), and a
  // broker with more queues than one round visits goes on where the last round stopped.
  size_t visited = 0;
  for (size_t n = 0; n < stripes_.size() && visited < kQueuesPerRound; ++n) {
    Stripe& stripe = stripes_[retention_cursor_++ % stripes_.size()];
    std::lock_guard lock(stripe.mu);
    visited += stripe.retained.size();
    for (auto it = stripe.retained.begin(); it != stripe.retained.end();) {
      RetainedQueue& r = it->second;
      const uint64_t size = store_->QueueSize(it->first);
      r.Mark(size, std::chrono::steady_clock::now(), gap);
      std::erase_if(r.groups, [](const std::weak_ptr<ConsumerGroup>& g) { return g.expired(); });
      const uint64_t cut =
          r.Cut(retention_, now, r.window_bound ? window_floor : SteadyTime::max());
      const uint64_t start = store_->QueueStart(it->first);
      if (cut > start || !r.groups_loaded) {
        due.push_back({it->first, cut, r.groups, !r.groups_loaded});
      } else if (start == size && r.groups.empty() && r.groups_loaded &&
                 now - r.last_write() > forget_after) {
        stripe.chain_heads.erase(it->first);  // found again from its anchor
        it = stripe.retained.erase(it);
        continue;
      }
      ++it;
    }
  }
  bool any_trimmed = false;
  for (Due& d : due) {
    Stripe& stripe = StripeOf(d.queue);
    if (d.load_groups) {
      LoadListedGroups(d.queue);
      std::lock_guard lock(stripe.mu);
      auto it = stripe.retained.find(d.queue);
      if (it == stripe.retained.end()) continue;
      it->second.groups_loaded = true;
      d.groups = it->second.groups;
    }
    if (d.cut == 0) continue;
    const uint64_t trimmed = TrimQueue(d.queue, d.cut, d.groups);
    trimmed_messages_ += trimmed;
    any_trimmed = any_trimmed || trimmed > 0;
    const uint64_t start = store_->QueueStart(d.queue);
    std::lock_guard lock(stripe.mu);
    auto it = stripe.retained.find(d.queue);
    if (it != stripe.retained.end()) it->second.Trimmed(start);
  }
  // A trim is durable, and its space given back, with the next Flush: on a busy broker the next
  // group commit, on an idle one this.
  if (any_trimmed) committer_->RequestFlush([](Status) {}, FlushMode::kWrite);
  // What trims and bursts freed stays in the allocator's arenas (a burst's buffers raise glibc's
  // mmap threshold, so later large buffers come from the heap and leave it fragmented): the RSS
  // of a steady broker would keep the high-water mark of every stall. Given back now and then.
  if (now - last_heap_trim_ >= kHeapTrimInterval) {
    malloc_trim(0);
    last_heap_trim_ = now;
  }
}

BrokerStats BrokerCore::Stats() {
  const StoreStats st = store_->GetStats();
  BrokerStats out = {
      {"queues", st.queues},
      {"messages", st.messages},
      {"blocks", st.blocks},
      {"open_block_bytes", st.open_block_bytes},
      {"index_bytes", st.index_bytes},
      {"read_cache_bytes", st.read_cache_bytes},
      {"segment_bytes", st.segment_bytes},
      {"allocated_bytes", st.allocated_bytes},
      {"live_bytes", st.live_bytes},
      {"store_trimmed_messages", st.trimmed_messages},
      {"pending_write_bytes", st.pending_write_bytes},
      {"groups", group_count()},
      {"dedupe_ids", dedupe_.size()},
      {"dedupe_generation", dedupe_.generation()},
      {"trimmed_messages", trimmed_messages_.load()},
      {"retention_rounds", retention_rounds_.load()},
      {"discovered_queues", discovered_queues_.load()},
      {"commit_rounds", committer_->flushes()},
      {"paced_commit_rounds", committer_->paced_rounds()},
      {"released_blocks", st.released_blocks},
      {"pending_release_blocks", st.pending_release_blocks},
      {"punched_bytes", st.punched_bytes},
  };
  size_t retained = 0, marks = 0;
  for (Stripe& stripe : stripes_) {
    std::lock_guard lock(stripe.mu);
    retained += stripe.retained.size();
    for (const auto& [name, r] : stripe.retained) marks += r.marks();
  }
  out.emplace_back("retained_queues", retained);
  out.emplace_back("retention_marks", marks);
  // The sweeper's own: read on its thread (STATS is answered there).
  out.emplace_back("dedupe_first_generation", journal_floor_);
  return out;
}

}  // namespace meshq::bridge
