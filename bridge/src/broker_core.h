// BrokerCore: what the broker does for each request, independent of sockets: stores PUTs with
// their dedupe rules, reads queues, hands out consumer-group messages, takes acks, and tracks
// which connections are members of which groups. Thread-safe; shared by all io threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "assignment_log.h"
#include "audit_chain.h"
#include "broker_metrics.h"
#include "committer.h"
#include "consumer_group.h"
#include "dedupe_window.h"
#include "meshq/bridge/broker.h"
#include "meshq/bridge/broker_protocol.h"
#include "meshq/queue_store.h"
#include "queue_watch.h"
#include "retention.h"
#include "sweeper.h"

namespace meshq::bridge {

// Who sent a request: its connection and the identity its TLS handshake authenticated
// ("" = anonymous), interned by BrokerCore::InternIdentity.
struct Caller {
  ConnectionId conn = 0;
  std::string_view identity;
  uint32_t identity_id = 0;  // 0 = anonymous
};

class BrokerCore {
 public:
  // `restarted`: the store held data before this broker opened it (clients, responders among
  // them, may be about to reconnect). `metrics` outlives the core.
  // `audit_key`: chain every stored message under it (null: no chain).
  BrokerCore(QueueStore* store, const BrokerOptions& options, bool restarted,
             BrokerMetrics* metrics, std::unique_ptr<AuditKey> audit_key = nullptr);
  ~BrokerCore();

  // Replays the dedupe journal. Call once before serving.
  Status Recover();

  // The number standing for `identity` in the broker's memory (0 for ""): the same identity
  // always gets the same number. Thread-safe.
  uint32_t InternIdentity(std::string_view identity);

  // Stores the messages of a PUT and writes the PUT reply body. Each stored message carries
  // the caller's identity (when it has one) and, with an audit key, its chain digest. Nothing
  // is stored when *no_consumers is set (kPutFlagRequireConsumers and the group has no live
  // member) or *unbound is (a REPLY put, with BrokerOptions::bind_replies, whose dedupe ids
  // are not all of requests last handed to the caller's connection or identity).
  Status Put(const Caller& caller, const PutRequest& request, uint8_t flags,
             std::string* reply_body, bool* no_consumers, bool* unbound);
  // GET/FETCH: writes a MESSAGES body; *count is how many messages it holds. With
  // kReadFlagStored each message's payload is its whole stored record (envelope, identity and
  // digest included: what the audit verifies).
  Status Read(const ReadRequest& request, std::string* reply_body, uint32_t* count,
              uint8_t flags = 0);
  // ANCHOR: the queue's chain anchor (audit_chain.h), *found false when it has none.
  Status Anchor(std::string_view queue, ChainAnchor* anchor, bool* found);
  // GROUP_FETCH on behalf of the caller's connection (which becomes a member of the group).
  // With request.member, the assignments of what it hands out are in the assignment log when
  // it returns (they survive a kill -9 from then on). The requests handed out may be replied
  // to by that connection, or one of its identity.
  Status GroupFetch(const Caller& caller, const GroupFetchRequest& request, std::string* reply_body,
                    uint32_t* count);
  // ACK: *committed is the group's committed offset afterwards. With `release` the offsets go
  // back to the group for any member instead (kAckFlagRelease).
  Status Ack(const AckRequest& request, bool release, uint64_t* committed);
  // Hands the connection's in-flight messages back to their groups and drops its memberships.
  void ConnectionClosed(ConnectionId conn);

  // One round of the committer: a Flush when `flush` (or, with `write_offsets`, when a committed
  // offset waits for durability), then with `write_offsets` every changed (durable) committed
  // offset written to the store's metadata.
  Status CommitRound(std::optional<FlushMode> flush, bool write_offsets = true);

  // Forgets groups without members for BrokerOptions::group_expiry whose offsets are persisted
  // (CommitRound calls it; exposed for tests). Their committed offsets stay in the metadata.
  void ExpireIdleGroups(SteadyTime now);
  // Groups held in memory.
  size_t group_count();
  // Request ids the dedupe window remembers now.
  size_t dedupe_ids() { return dedupe_.size(); }

  // One retention round (the sweeper runs it every BrokerOptions::retention_round): forgets
  // dedupe ids older than the retention, tracks queues found in the store's catalogue (a page a
  // round), marks the sizes of the queues tracked, and trims each queue as far as the policy lets
  // it go and no consumer group still needs it, visiting every queue (up to a bound per round,
  // the rest in the next ones). Exposed for tests.
  void RetentionRound(SteadyTime now);
  // The counters of a STATS answer: the store's (a walk over every queue: call it from the
  // sweeper's thread, never an io thread) and the broker's own.
  BrokerStats Stats();

  QueueWatch& watch() { return watch_; }
  BrokerMetrics& metrics() { return *metrics_; }
  Committer& committer() { return *committer_; }
  Sweeper& sweeper() { return *sweeper_; }

 private:
  Status GetGroup(std::string_view queue, std::string_view group,
                  std::shared_ptr<ConsumerGroup>* out);
  // GetGroup, then the group's lock; never a group that ExpireIdleGroups is forgetting.
  Status LockGroup(std::string_view queue, std::string_view group,
                   std::shared_ptr<ConsumerGroup>* out, std::unique_lock<std::mutex>* lock);
  void DropExpired(const std::shared_ptr<ConsumerGroup>& g);
  // Lists a group whose committed offset moved for the next offset round.
  void MarkDirty(const std::shared_ptr<ConsumerGroup>& g);
  Status CommitGroups(const std::vector<std::shared_ptr<ConsumerGroup>>& groups,
                      std::optional<FlushMode> flush, bool write_offsets);
  bool HasLiveMembers(ConsumerGroup& g);
  // Journals that `member` gave back the request stored at queue/offset without running it.
  Status ReleaseAssignment(const std::string& queue, uint64_t offset, uint64_t member);
  // Writes assignment / release records to the assignment log (durable across a kill -9 when
  // this returns), then into the dedupe window and its journal.
  Status RecordAssignments(const std::vector<JournalRecord>& records);
  // Reads up to `max` messages of `queue` from `offset`, or from the queue's first kept offset
  // when the retention trimmed past `offset`; *first is the offset of batch[0].
  Status GetKept(std::string_view queue, uint64_t offset, uint64_t max, MessageBatch* batch,
                 uint64_t* first);
  // A queue's stripe: its lock keeps a PUT's messages contiguous and guards the retention's
  // record of the queues hashed to it.
  struct Stripe {
    std::mutex mu;
    std::unordered_map<std::string, RetainedQueue> retained;
    // With an audit key: each queue written since the start, its next offset and the digest of
    // the message before it.
    struct ChainHead {
      uint64_t next = 0;
      std::string digest;
    };
    std::unordered_map<std::string, ChainHead> chain_heads;
  };
  Stripe& StripeOf(std::string_view queue);
  // The retained record of `queue`, created with the queue's present size (under stripe.mu).
  RetainedQueue& RetainedLocked(Stripe& stripe, std::string_view queue, SteadyTime now);
  // The digest the message stored next at `offset` of `queue` chains from (under stripe.mu):
  // the cached head, or after a restart the last kept message's digest, or the chain anchor
  // of a queue trimmed to empty (recorded now when it has none), or the genesis.
  Status ChainHeadLocked(Stripe& stripe, const std::string& queue, uint64_t offset,
                         Stripe::ChainHead** head);
  // The digest of the message at `offset` of `queue`, or the genesis when it is not chained.
  // NotFound when it is not kept.
  Status DigestAt(std::string_view queue, uint64_t offset, std::string* digest);
  // Records the chain anchor of `queue` at `offset` (the digest of the message before it).
  Status WriteAnchor(const std::string& queue, uint64_t offset, std::string digest);
  // Loads the groups the store's metadata lists for `queue` (key "gl/<queue>").
  void LoadListedGroups(const std::string& queue);
  // Adds the group to its queue's list in the metadata once (the committer's thread).
  Status ListGroup(ConsumerGroup& g);
  // Trims one queue as far as `cut`, no consumer group's committed offset and the queue's end
  // allow. Returns the messages trimmed.
  uint64_t TrimQueue(const std::string& queue, uint64_t cut,
                     const std::vector<std::weak_ptr<ConsumerGroup>>& groups);
  // Registers the dedupe journal's generations from `journal_floor_` on for retention.
  void TrackJournal(SteadyTime now);
  // Tracks, from the next page of the store's catalogue, the queues that hold messages and were
  // not written since the start (a restarted broker's idle queues): their age starts now.
  void DiscoverQueues(SteadyTime now);

  QueueStore* const store_;
  BrokerMetrics* const metrics_;
  // A Flush(kWrite) ran since the last synced one (CommitRound only: the committer's thread).
  bool written_unsynced_ = false;
  const BrokerOptions options_;
  const SteadyTime started_;
  const bool restarted_;
  std::unique_ptr<AuditKey> audit_key_;  // from options_.audit_key_file; null: no chain
  DedupeWindow dedupe_;
  std::unique_ptr<AssignmentLog> assignments_;  // opened by Recover
  QueueWatch watch_;
  std::vector<Stripe> stripes_;
  const RetentionPolicy retention_;
  // The sweeper's (RetentionRound's) own state.
  size_t retention_cursor_ = 0;   // the next stripe a round visits
  uint64_t list_cursor_ = 0;      // the catalogue position DiscoverQueues reads next
  uint64_t journal_floor_ = 0;    // the oldest journal generation not yet trimmed to empty
  uint64_t journal_tracked_ = 0;  // generations below this are registered
  std::atomic<uint64_t> trimmed_messages_{0};
  std::atomic<uint64_t> retention_rounds_{0};
  std::atomic<uint64_t> discovered_queues_{0};
  SteadyTime last_heap_trim_{};

  std::mutex groups_mu_;
  std::unordered_map<std::string, std::shared_ptr<ConsumerGroup>> groups_;
  std::unordered_map<ConnectionId, std::vector<std::shared_ptr<ConsumerGroup>>> memberships_;
  // Groups that had no member from `since` on, oldest first (under groups_mu_): the expiry
  // visits only those due, never every group.
  struct Idle {
    SteadyTime since;
    std::weak_ptr<ConsumerGroup> group;
  };
  std::deque<Idle> idle_;

  std::mutex identities_mu_;
  std::unordered_map<std::string, uint32_t> identities_;

  std::mutex dirty_mu_;  // after a group's mu, never before it
  std::vector<std::shared_ptr<ConsumerGroup>> dirty_;

  std::unique_ptr<Committer> committer_;  // its thread uses the members above
  std::unique_ptr<Sweeper> sweeper_;      // last: its thread uses the members above
};

}  // namespace meshq::bridge
