// RpcResponder: the responder side of request-reply, whichever message engine carries it
// (rpc_backend.h chooses): RpcServer over meshq-broker, or the NATS JetStream responder.
//
// Contract of every implementation: the responders of one service share its requests, each
// request handled by one of them; a request past its deadline is dropped unexecuted; a request
// handed out again (redelivery) whose reply is remembered gets that reply again instead of
// running twice; replies are stored for the requester. Runs on the one thread of the io_context
// it was created with; the handler is called there and may respond later, from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "meshq/bridge/rpc_message.h"

namespace meshq::bridge {

// A request as the handler sees it (owned copies).
struct RpcCall {
  uint64_t request_id = 0;
  uint64_t trace_id = 0;
  uint64_t deadline_us = 0;
  uint32_t attempt = 0;
  std::string method;
  std::string payload;
};

class RpcResponder {
 public:
  // Call exactly once per request.
  using Respond = std::function<void(ReplyStatus status, std::string payload)>;
  using Handler = std::function<void(const RpcCall& call, Respond respond)>;

  struct Stats {
    std::atomic<uint64_t> handled{0};     // handler invocations
    std::atomic<uint64_t> expired{0};     // dropped: deadline passed before handling
    std::atomic<uint64_t> replayed{0};    // answered again from remembered replies
    std::atomic<uint64_t> given_back{0};  // handed back unrun (GiveBack, or while paused)
  };

  virtual ~RpcResponder() = default;
  virtual void Start() = 0;
  // Takes no new requests (ones delivered meanwhile are handed back unrun, for another
  // responder) and lets the running ones answer; in_flight() then falls to 0.
  virtual void Drain() = 0;
  // Stops taking requests and closes the connection (see the implementation for what happens
  // to requests still running).
  virtual void Shutdown() = 0;
  // Stops taking new requests until Resume (those delivered meanwhile are handed back).
  virtual void Pause() = 0;
  // Takes requests again, at most `max_in_flight` at once (0: the configured maximum).
  virtual void Resume(uint32_t max_in_flight = 0) = 0;
  virtual bool paused() const = 0;
  // The handler did not run `request_id`: it goes back unanswered, for another responder at
  // once. Its Respond must not be called after this (a later call is ignored).
  virtual void GiveBack(uint64_t request_id) = 0;
  virtual const Stats& stats() const = 0;
  virtual size_t in_flight() const = 0;
};

}  // namespace meshq::bridge
