// RememberedReplies: the replies a responder has given, kept until their requests' deadlines (plus
// a slack) pass, so a request the broker hands out again (its ack was lost, the broker restarted)
// is answered with the same reply instead of running twice.
//
// One hash table, grown incrementally: when it is full, a new table sized for twice its replies
// takes over (allocated empty, so nothing is rehashed) and every Remember moves a few replies
// from the old one until it is empty; a lookup looks in both meanwhile. A table grown on demand
// rehashed every remembered reply in one go on the io thread while calls waited — the window is
// the deadline plus the slack times the call rate — each time the rate passed its last high.
// (Generations of a second each, tried first, cost a lookup per generation for every new request.)
//
// Not thread-safe: the RpcServer's io thread owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "meshq/bridge/rpc_message.h"

namespace meshq::bridge {

class RememberedReplies {
 public:
  using Clock = std::chrono::steady_clock;
  struct Reply {
    std::string reply_to;  // the requester's reply queue
    std::string encoded;   // the RpcReply as stored
  };

  // Remembers `reply` as id's (replacing one remembered before) until `expires`. The reference
  // stays valid until the reply is forgotten or replaced.
  const Reply& Remember(uint64_t id, Reply reply, Clock::time_point expires);
  // Encodes `reply` (its replied_us set to now) and remembers it for `reply_to` until its
  // deadline_us plus `slack` pass.
  const Reply& RememberReply(RpcReply reply, std::string reply_to, std::chrono::seconds slack);
  // id's reply; nullptr when none is remembered.
  const Reply* Find(uint64_t id) const;
  // Forgets the replies whose expiry is at or before `now`.
  void Expire(Clock::time_point now);

  size_t size() const { return current_.size() + old_.size(); }
  // For tests: replies rehashed by an insert into a non-empty table (growth must move none).
  uint64_t rehashed() const { return rehashed_; }

 private:
  struct Entry {
    Reply reply;
    Clock::time_point expires;
  };
  using Table = std::unordered_map<uint64_t, Entry>;
  // Replies moved from old_ to current_ per Remember: old_ is empty before current_, sized for
  // twice old_'s replies, fills up.
  static constexpr size_t kMovesPerRemember = 8;

  void MoveSome();

  Table current_;
  Table old_;  // being emptied into current_
  using Expiry = std::pair<Clock::time_point, uint64_t>;
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<>> expiries_;  // earliest first
  uint64_t rehashed_ = 0;
};

}  // namespace meshq::bridge
