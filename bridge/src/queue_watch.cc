// QueueWatch: registration and wake-up of long-poll waiters.
#include "queue_watch.h"

#include <vector>

namespace meshq::bridge {

QueueWatch::Token QueueWatch::Add(std::string_view queue, std::function<void()> wake) {
  std::lock_guard lock(mu_);
  Token token = next_token_++;
  waiters_[std::string(queue)].emplace(token, std::move(wake));
  return token;
}

void QueueWatch::Remove(std::string_view queue, Token token) {
  std::lock_guard lock(mu_);
  auto it = waiters_.find(std::string(queue));
  if (it == waiters_.end()) return;
  it->second.erase(token);
  if (it->second.empty()) waiters_.erase(it);
}

void QueueWatch::Notify(std::string_view queue) {
  std::map<Token, std::function<void()>> woken;
  {
    std::lock_guard lock(mu_);
    auto it = waiters_.find(std::string(queue));
    if (it == waiters_.end()) return;
    woken.swap(it->second);
    waiters_.erase(it);
  }
  for (auto& [token, wake] : woken) wake();
}

}  // namespace meshq::bridge
