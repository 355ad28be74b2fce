// CallTable: a requester's calls waiting for their replies, shared by the requester
// implementations (RpcClient, the NATS requester): each call's callbacks (a retry of a pending
// call adds one), its deadline, and the replies that arrived for no pending call (kept for a
// later Collect or retry while their deadlines last). `Call` is the implementation's per-call
// state with at least `std::vector<RpcRequester::Callback> waiters`, `Clock::time_point
// deadline` and `uint32_t attempts`; for AddCall also `std::string service, request`. Not
// thread-safe: the requester's io thread owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "meshq/bridge/hop_stats.h"
#include "meshq/bridge/rpc_message.h"
#include "meshq/bridge/rpc_requester.h"

namespace meshq::bridge {

template <typename Call>
class CallTable {
 public:
  using Clock = std::chrono::steady_clock;

  // Adds `done` to id's call, creating it with `deadline` when new (then `*inserted`).
  Call& Add(uint64_t id, RpcRequester::Callback done, Clock::time_point deadline, bool* inserted) {
    auto [it, fresh] = calls_.try_emplace(id);
    it->second.waiters.push_back(std::move(done));
    if (fresh) {
      it->second.deadline = deadline;
      deadlines_.emplace(deadline, id);
    }
    *inserted = fresh;
    return it->second;
  }
  enum class Added {
    kNew,       // to send
    kRetry,     // of a call still pending: to send again
    kAnswered,  // by a reply that arrived before (an earlier instance's call with this id)
  };
  // Adds a call to `service` (or `done` to the pending one with this id): its first attempt
  // encoded into Call::request, sent now with its deadline `options.timeout` from now.
  Added AddCall(uint64_t id, std::string_view service, std::string_view payload,
                const CallOptions& options, std::string_view reply_to,
                RpcRequester::Callback done) {
    bool inserted = false;
    Call& c = Add(id, std::move(done), Clock::now() + options.timeout, &inserted);
    if (!inserted) return Added::kRetry;
    c.service = std::string(service);
    RpcRequest r;
    r.request_id = id;
    r.trace_id = options.trace_id ? options.trace_id : id;
    r.sent_us = UnixMicros();
    r.deadline_us = r.sent_us + static_cast<uint64_t>(options.timeout.count()) * 1000;
    r.reply_to = reply_to;
    r.method = options.method;
    r.payload = payload;
    EncodeRpcRequest(r, &c.request);
    CallResult kept;
    if (!TakeOrphan(id, &kept)) return Added::kNew;
    Complete(id, std::move(kept));
    return Added::kAnswered;
  }
  Call* Find(uint64_t id) {
    auto it = calls_.find(id);
    return it == calls_.end() ? nullptr : &it->second;
  }
  std::unordered_map<uint64_t, Call>& calls() { return calls_; }
  size_t size() const { return calls_.size(); }

  // A reply kept for no call: moved into `out` (as the call's result) and forgotten.
  bool TakeOrphan(uint64_t id, CallResult* out) {
    auto it = orphans_.find(id);
    if (it == orphans_.end()) return false;
    out->request_id = id;
    out->error =
        it->second.status == ReplyStatus::kOk ? CallError::kNone : CallError::kHandlerError;
    out->payload = std::move(it->second.payload);
    orphans_.erase(it);
    return true;
  }

  // `delivered`: the reply came as it was stored (not kept from before, nor fetched for a
  // retry of a settled call), so its age is the reply hop's.
  void OnReply(const RpcReply& reply, bool delivered) {
    auto it = calls_.find(reply.request_id);
    if (it == calls_.end()) {
      const uint64_t now = UnixMicros();
      auto remaining =
          std::chrono::microseconds(reply.deadline_us > now ? reply.deadline_us - now : 0);
      orphans_[reply.request_id] =
          Orphan{reply.status, std::string(reply.payload), Clock::now() + remaining};
      return;
    }
    if (delivered && it->second.attempts == 1) {
      const uint64_t now = UnixMicros();
      HopStats().reply.Record(now > reply.replied_us ? now - reply.replied_us : 0);
    }
    CallResult r;
    r.request_id = reply.request_id;
    r.attempts = it->second.attempts;
    r.error = reply.status == ReplyStatus::kOk ? CallError::kNone : CallError::kHandlerError;
    r.payload = std::string(reply.payload);
    Complete(reply.request_id, std::move(r));
  }

  // Runs id's callbacks with `result` and forgets the call.
  void Complete(uint64_t id, CallResult result) {
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    std::vector<RpcRequester::Callback> waiters = std::move(it->second.waiters);
    auto range = deadlines_.equal_range(it->second.deadline);
    for (auto d = range.first; d != range.second; ++d) {
      if (d->second == id) {
        deadlines_.erase(d);
        break;
      }
    }
    calls_.erase(it);
    for (size_t i = 0; i < waiters.size(); ++i) {
      waiters[i](i + 1 == waiters.size() ? std::move(result) : result);
    }
  }

  // Fails every call with `error` (shutting down).
  void FailAll(CallError error, const std::string& why) {
    std::vector<uint64_t> ids;
    for (auto& [id, c] : calls_) ids.push_back(id);
    for (uint64_t id : ids) Complete(id, CallResult{error, why, id, 0});
  }

  // Times out the calls whose deadline is at or before `now`; forgets expired orphans.
  void Expire(Clock::time_point now) {
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      uint64_t id = deadlines_.begin()->second;
      deadlines_.erase(deadlines_.begin());
      auto it = calls_.find(id);
      uint32_t attempts = it == calls_.end() ? 0 : it->second.attempts;
      Complete(id, CallResult{CallError::kTimedOut, "no reply before the deadline", id, attempts});
    }
    for (auto it = orphans_.begin(); it != orphans_.end();) {
      it = it->second.expires <= now ? orphans_.erase(it) : std::next(it);
    }
  }

 private:
  struct Orphan {
    ReplyStatus status;
    std::string payload;
    Clock::time_point expires;
  };
  std::unordered_map<uint64_t, Call> calls_;
  std::multimap<Clock::time_point, uint64_t> deadlines_;
  std::unordered_map<uint64_t, Orphan> orphans_;
};

}  // namespace meshq::bridge
