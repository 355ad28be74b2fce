// A call as it travels through the mesh (HTTP form in, Dubbo out), its outcome, and Invoker: the
// one interface every hop implements ("take this call, answer later on this thread").
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace meshq::agent {

using Clock = std::chrono::steady_clock;

struct CallRequest {
  std::string interface_name;   // Dubbo interface, e.g. com.alibaba...IHelloService
  std::string method;           // e.g. hash
  std::string parameter_types;  // JVM descriptors, e.g. Ljava/lang/String;
  std::string parameter;        // the argument as UTF-8 text
  Clock::time_point deadline = Clock::time_point::max();  // the caller gives up after this
};

enum class CallStatus : unsigned char {
  kOk,             // body = the provider's answer as text
  kBadRequest,     // the call cannot be made as described (unknown type, invalid UTF-8...)
  kProviderError,  // the provider ran it and threw or reported an error
  kTimeout,        // no answer before the deadline
  kNotExecuted,    // refused or unreachable before the provider saw it: safe to retry elsewhere
  kLost,           // the call was sent, then the connection died: the outcome is unknown
  kNoProvider,     // no endpoint serves the interface
  kTooLarge,       // the provider answered, but the answer exceeds a hop's frame limit
};

// "ok", "bad request", ...
const char* CallStatusName(CallStatus s);
// The HTTP status a consumer-agent answers with: 200, 400, 500, 504, 503, 502, 503, 502
// (the table in docs/agent-protocol.md).
int HttpStatusFor(CallStatus s);

struct CallResult {
  CallStatus status = CallStatus::kOk;
  std::string body;  // answer (kOk) or a reason naming what failed

  static CallResult Ok(std::string text) { return {CallStatus::kOk, std::move(text)}; }
  static CallResult Error(CallStatus s, std::string reason) { return {s, std::move(reason)}; }
};

// Called exactly once per call, on the thread (io_context) the call was made on.
using CallCallback = std::function<void(CallResult)>;

// Something that executes calls: the consumer's transport to provider-agents (direct or MQ), the
// provider's Dubbo client. Not thread-safe: each instance belongs to one io_context thread and is
// called only from it; `done` also runs there, never synchronously inside Invoke when the result
// needs I/O (but may run inside Invoke for immediate failures).
class Invoker {
 public:
  virtual ~Invoker() = default;
  virtual void Invoke(CallRequest request, CallCallback done) = 0;
};

}  // namespace meshq::agent
