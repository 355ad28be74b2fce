// RememberedReplies: generations of remembered replies, dropped whole and their tables reused.
#include "remembered_replies.h"

#include <algorithm>
#include <utility>

namespace meshq::bridge {

const RememberedReplies::Reply& RememberedReplies::Remember(uint64_t id, Reply reply,
                                                            Clock::time_point expires,
                                                            Clock::time_point now) {
  if (generations_.empty() || now - generations_.back().started >= span_) {
    Generation g;
    g.started = now;
    g.expires = expires;
    if (!spares_.empty()) {
      g.replies = std::move(spares_.back());  // keeps its buckets: no growth at a steady rate
      spares_.pop_back();
    }
    generations_.push_back(std::move(g));
  }
  Generation& g = generations_.back();
  g.expires = std::max(g.expires, expires);
  // An older generation may still hold an earlier reply of this id: Find looks newest first.
  Reply& slot = g.replies[id];
  slot = std::move(reply);
  return slot;
}

const RememberedReplies::Reply* RememberedReplies::Find(uint64_t id) const {
  for (auto g = generations_.rbegin(); g != generations_.rend(); ++g) {
    auto it = g->replies.find(id);
    if (it != g->replies.end()) return &it->second;
  }
  return nullptr;
}

void RememberedReplies::Expire(Clock::time_point now) {
  while (!generations_.empty() && generations_.front().expires <= now) {
    Table table = std::move(generations_.front().replies);
    generations_.pop_front();
    if (spares_.size() < kMaxSpares) {
      table.clear();  // keeps the bucket array
      spares_.push_back(std::move(table));
    }
  }
}

size_t RememberedReplies::size() const {
  size_t n = 0;
  for (const Generation& g : generations_) n += g.replies.size();
  return n;
}

size_t RememberedReplies::buckets() const {
  size_t n = 0;
  for (const Generation& g : generations_) n += g.replies.bucket_count();
  for (const Table& t : spares_) n += t.bucket_count();
  return n;
}

size_t RememberedReplies::largest_table() const {
  size_t n = 0;
  for (const Generation& g : generations_) n = std::max(n, g.replies.bucket_count());
  for (const Table& t : spares_) n = std::max(n, t.bucket_count());
  return n;
}

}  // namespace meshq::bridge
