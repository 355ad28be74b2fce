// QueueWatch: one-shot wake-ups for long-polls. A waiter registers a callback on a queue; the
// next Notify of that queue (a PUT, or group messages handed back) takes and runs every callback.
// Callbacks run on the notifier's thread, so they only dispatch work to their own io_context
// (run at once when that is the notifier's thread, posted otherwise).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace meshq::bridge {

class QueueWatch {
 public:
  using Token = uint64_t;

  Token Add(std::string_view queue, std::function<void()> wake);
  // Forgets a waiter that stopped waiting (timed out or answered). No-op when already woken.
  void Remove(std::string_view queue, Token token);
  void Notify(std::string_view queue);

 private:
  std::mutex mu_;
  Token next_token_ = 1;
  std::unordered_map<std::string, std::map<Token, std::function<void()>>> waiters_;
};

}  // namespace meshq::bridge
