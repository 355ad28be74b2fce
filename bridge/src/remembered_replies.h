// RememberedReplies: the replies a responder has given, kept until their requests' deadlines (plus
// a slack) pass, so a request the broker hands out again (its ack was lost, the broker restarted)
// is answered with the same reply instead of running twice.
//
// Kept in generations that each take the replies of about `span` of time, newest last. A
// generation is dropped whole once the latest expiry in it passed, and its table, cleared, takes
// the next generation's replies: at a steady call rate no table grows, and a rising rate grows
// one generation's table, never the whole window's. A single table grown on demand rehashed every
// remembered reply on the io thread while calls waited — the window is the deadline plus the slack
// times the call rate, ~33k replies a provider at 512 connections in the mesh run.
//
// A reply may be remembered longer than its own expiry (until its generation's latest), never
// shorter. Not thread-safe: the RpcServer's io thread owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace meshq::bridge {

class RememberedReplies {
 public:
  using Clock = std::chrono::steady_clock;
  struct Reply {
    std::string reply_to;  // the requester's reply queue
    std::string encoded;   // the RpcReply as stored
  };

  explicit RememberedReplies(Clock::duration span = std::chrono::seconds(1)) : span_(span) {}

  // Remembers `reply` as id's (replacing one remembered before) until `expires` at least; `now`
  // places it in a generation. The reference stays valid until the reply is forgotten.
  const Reply& Remember(uint64_t id, Reply reply, Clock::time_point expires, Clock::time_point now);
  // id's reply, the latest remembered; nullptr when none is.
  const Reply* Find(uint64_t id) const;
  // Forgets the oldest generations while every reply in them has expired by `now`.
  void Expire(Clock::time_point now);

  size_t size() const;
  size_t generations() const { return generations_.size(); }
  // For tests: buckets of all tables, live and spare, which a steady call rate must not grow;
  // and of the largest table, which follows one generation's replies, not the window's.
  size_t buckets() const;
  size_t largest_table() const;

 private:
  using Table = std::unordered_map<uint64_t, Reply>;
  struct Generation {
    Clock::time_point started;
    Clock::time_point expires;  // the latest expiry of its replies
    Table replies;
  };
  // Cleared tables kept for reuse, at most this many (the rest are freed: a burst's memory is
  // not held for good).
  static constexpr size_t kMaxSpares = 2;

  const Clock::duration span_;
  std::deque<Generation> generations_;  // oldest first
  std::vector<Table> spares_;
};

}  // namespace meshq::bridge
