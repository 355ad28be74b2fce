// BrokerCore: what the broker does for each request, independent of sockets: stores PUTs with
// their dedupe rules, reads queues, hands out consumer-group messages, takes acks, and tracks
// which connections are members of which groups. Thread-safe; shared by all io threads.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "assignment_log.h"
#include "broker_metrics.h"
#include "committer.h"
#include "consumer_group.h"
#include "dedupe_window.h"
#include "meshq/bridge/broker.h"
#include "meshq/bridge/broker_protocol.h"
#include "meshq/queue_store.h"
#include "queue_watch.h"

namespace meshq::bridge {

class BrokerCore {
 public:
  // `restarted`: the store held data before this broker opened it (clients, responders among
  // them, may be about to reconnect). `metrics` outlives the core.
  BrokerCore(QueueStore* store, const BrokerOptions& options, bool restarted,
             BrokerMetrics* metrics);
  ~BrokerCore();

  // Replays the dedupe journal. Call once before serving.
  Status Recover();

  // Stores the messages of a PUT and writes the PUT reply body. *no_consumers is set (and
  // nothing stored) when kPutFlagRequireConsumers is given and the group has no live member.
  Status Put(const PutRequest& request, uint8_t flags, std::string* reply_body, bool* no_consumers);
  // GET/FETCH: writes a MESSAGES body; *count is how many messages it holds.
  Status Read(const ReadRequest& request, std::string* reply_body, uint32_t* count);
  // GROUP_FETCH on behalf of connection `conn` (which becomes a member of the group). With
  // request.member, the assignments of what it hands out are in the assignment log when it
  // returns (they survive a kill -9 from then on).
  Status GroupFetch(ConnectionId conn, const GroupFetchRequest& request, std::string* reply_body,
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

  QueueWatch& watch() { return watch_; }
  BrokerMetrics& metrics() { return *metrics_; }
  Committer& committer() { return *committer_; }

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
  std::mutex& QueueLock(std::string_view queue);

  QueueStore* const store_;
  BrokerMetrics* const metrics_;
  // A Flush(kWrite) ran since the last synced one (CommitRound only: the committer's thread).
  bool written_unsynced_ = false;
  const BrokerOptions options_;
  const SteadyTime started_;
  const bool restarted_;
  DedupeWindow dedupe_;
  std::unique_ptr<AssignmentLog> assignments_;  // opened by Recover
  QueueWatch watch_;
  std::vector<std::mutex> queue_locks_;  // striped: keeps a PUT's messages contiguous

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

  std::mutex dirty_mu_;  // after a group's mu, never before it
  std::vector<std::shared_ptr<ConsumerGroup>> dirty_;

  std::unique_ptr<Committer> committer_;  // last: its thread uses the members above
};

}  // namespace meshq::bridge
