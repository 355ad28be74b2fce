// RememberedReplies: one table grown by moving replies a few at a time into a larger one.
#include "remembered_replies.h"

#include <algorithm>

namespace meshq::bridge {

const RememberedReplies::Reply& RememberedReplies::Remember(uint64_t id, Reply reply,
                                                            Clock::time_point expires) {
  MoveSome();
  if (old_.empty() && static_cast<float>(current_.size() + 1) >
                          current_.max_load_factor() * current_.bucket_count()) {
    // Full: the next insert would rehash every reply. Start a table with room for twice as many
    // instead (its buckets allocated while it is empty) and move the replies over gradually.
    old_ = std::move(current_);
    current_ = Table();
    current_.reserve(std::max<size_t>(64, 2 * old_.size()));
  }
  if (!old_.empty()) old_.erase(id);  // one entry per id: remembered again, it is in current_
  const size_t buckets = current_.bucket_count();
  const size_t before = current_.size();
  Entry& e = current_[id];
  if (current_.bucket_count() != buckets) rehashed_ += before;
  e.reply = std::move(reply);
  e.expires = expires;
  expiries_.emplace(expires, id);
  return e.reply;
}

const RememberedReplies::Reply& RememberedReplies::RememberReply(RpcReply reply,
                                                                 std::string reply_to,
                                                                 std::chrono::seconds slack) {
  const uint64_t now = UnixMicros();
  reply.replied_us = now;
  Reply m;
  m.reply_to = std::move(reply_to);
  EncodeRpcReply(reply, &m.encoded);
  const uint64_t left_us = reply.deadline_us > now ? reply.deadline_us - now : 0;
  return Remember(reply.request_id, std::move(m),
                  Clock::now() + std::chrono::microseconds(left_us) + slack);
}

void RememberedReplies::MoveSome() {
  for (size_t i = 0; i < kMovesPerRemember && !old_.empty(); ++i) {
    auto node = old_.extract(old_.begin());
    const size_t buckets = current_.bucket_count();
    const size_t before = current_.size();
    current_.insert(std::move(node));  // the node itself moves: no copy of the reply
    if (current_.bucket_count() != buckets) rehashed_ += before;
  }
}

const RememberedReplies::Reply* RememberedReplies::Find(uint64_t id) const {
  auto it = current_.find(id);
  if (it != current_.end()) return &it->second.reply;
  if (old_.empty()) return nullptr;
  it = old_.find(id);
  return it != old_.end() ? &it->second.reply : nullptr;
}

void RememberedReplies::Expire(Clock::time_point now) {
  while (!expiries_.empty() && expiries_.top().first <= now) {
    const uint64_t id = expiries_.top().second;
    expiries_.pop();
    // A reply remembered again since (a later Remember of the same id) expires later: kept.
    Table* t = &current_;
    auto it = current_.find(id);
    if (it == current_.end() && !old_.empty()) {
      t = &old_;
      it = old_.find(id);
    }
    if (it != t->end() && it->second.expires <= now) t->erase(it);
  }
}

}  // namespace meshq::bridge
