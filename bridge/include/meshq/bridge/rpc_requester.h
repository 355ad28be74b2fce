// RpcRequester: the requester side of request-reply, whichever message engine carries it
// (rpc_backend.h chooses): RpcClient over meshq-broker, or the NATS JetStream requester.
//
// Contract of every implementation: a call is answered exactly once (a reply, or an error).
// Retries reuse the request id and run at most once. A call to a service with no live responder
// fails at once with kNoResponders, not by its timeout. Replies are stored, so an instance
// started with the client id of an earlier one collects that one's replies (Collect) while their
// deadlines last. Runs on the one thread of the io_context it was created with: call it and get
// callbacks there.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace meshq::bridge {

enum class CallError : uint8_t {
  kNone = 0,
  kNoResponders,  // no live responder serves the service: nothing was queued
  kTimedOut,      // no reply before the deadline
  kHandlerError,  // the responder's handler reported an error (payload = its message)
  kBrokerError,   // the broker refused the request (bad name, I/O error) or the client shut down
};

struct CallResult {
  CallError error = CallError::kNone;
  std::string payload;  // the reply (kNone), or what failed
  uint64_t request_id = 0;
  uint32_t attempts = 0;  // how many times the request was sent
};

struct CallOptions {
  std::chrono::milliseconds timeout{1000};
  // 0 = a fresh random id. Passing the id of an earlier call retries it: it runs at most once.
  uint64_t request_id = 0;
  uint64_t trace_id = 0;  // 0 = the request id
  std::string_view method;
};

class RpcRequester {
 public:
  using Callback = std::function<void(CallResult)>;

  virtual ~RpcRequester() = default;
  virtual void Start() = 0;
  // Fails pending calls with kBrokerError and closes the connection.
  virtual void Shutdown() = 0;
  // Sends `payload` to `service`; `done` runs exactly once. Returns the request id.
  virtual uint64_t Call(std::string_view service, std::string_view payload,
                        const CallOptions& options, Callback done) = 0;
  // Waits up to `timeout` for the reply to `request_id`, sent earlier by an instance with this
  // client id (e.g. before a restart); kTimedOut when none arrives.
  virtual void Collect(uint64_t request_id, std::chrono::milliseconds timeout, Callback done) = 0;
  virtual size_t pending() const = 0;
  // Where this requester's replies arrive (a reply queue or subject), for descriptions.
  virtual const std::string& reply_queue() const = 0;
};

}  // namespace meshq::bridge
