// ConsumerGroup: one group's position in one queue. Messages are handed out from `next` (or
// from those handed back), each to one member connection, and stay in flight until acked; when
// a member's connection closes its in-flight messages are handed back for redelivery. The
// committed offset is the lowest offset not yet acked; it is what survives a restart (metadata
// key "g/<queue>\0<group>"), so unacked messages are delivered again after one. Messages are
// handed out as soon as they are in the engine, before a Flush; so the offset written is never
// past `durable` (the queue's size before the last Flush), or a crash could leave it past the
// end of the queue and new messages written at the lost offsets would be skipped.
//
// A message handed to an assigning member (GroupFetchRequest::member) that is not acked when its
// connection closes, or that the journal says was assigned to a member before a restart, is
// held for that member until `held` expires (the broker's redelivery hold); only then is it
// handed back to anyone.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>

namespace meshq::bridge {

using ConnectionId = uint64_t;
using SteadyTime = std::chrono::steady_clock::time_point;

struct ConsumerGroup {
  // Loaded state.
  std::string queue;
  std::string group;
  std::string metadata_key;
  bool had_persisted_offset = false;  // the group existed before this broker started
  SteadyTime created{};
  bool dirty = false;  // listed for the next offset round (BrokerCore's dirty_mu_ guards it)

  std::mutex mu;  // guards everything below
  uint64_t next = 0;
  struct InFlight {
    ConnectionId conn = 0;
    uint64_t member = 0;  // 0: handed out without assignment
  };
  std::map<uint64_t, InFlight> in_flight;
  std::set<uint64_t> redeliver;
  struct Held {
    uint64_t member = 0;
    SteadyTime until{};
  };
  std::map<uint64_t, Held> held;  // by offset
  std::unordered_set<ConnectionId> members;
  bool ever_had_member = false;
  SteadyTime last_member_left{};
  uint64_t persisted = 0;  // offset last written to metadata
  uint64_t durable = 0;    // messages of the queue known to be on disk
  bool expired = false;    // forgotten by the broker: look the group up again
  bool listed = false;     // in its queue's group list in the metadata (retention, restarts)

  uint64_t CommittedLocked() const {
    uint64_t c = next;
    if (!in_flight.empty()) c = std::min(c, in_flight.begin()->first);
    if (!redeliver.empty()) c = std::min(c, *redeliver.begin());
    if (!held.empty()) c = std::min(c, held.begin()->first);
    return c;
  }
  // What may be written now: the committed offset, held back to what is durable.
  uint64_t PersistableLocked() const {
    return std::min(CommittedLocked(), std::max(durable, persisted));
  }
};

std::string GroupMetadataKey(std::string_view queue, std::string_view group);

}  // namespace meshq::bridge
