// Faults: a provider that misbehaves on purpose, for the agents' resilience tests and the mesh
// run — what real providers do to their consumers over time: close idle connections, stop
// answering heartbeats, drop connections with calls in flight, answer too much, throw exceptions
// with long cause chains.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dubbo_codec.h"
#include "meshq/status.h"

namespace meshq::provider_sim {

struct SimFaults {
  std::int64_t idle_close_ms = 0;  // close a connection that received nothing this long; 0: never
  bool answer_heartbeats = true;   // false: heartbeats are read and never answered
  double close_percent = 0;        // chance (%) that a call closes its connection unanswered
  bool by_parameter = false;       // hash parameters "fault:..." choose a fault per call
};

// What a hash call's parameter asks for when SimFaults::by_parameter is set:
//   fault:close               the connection is closed on receipt (calls in flight are lost)
//   fault:answer-bytes:N      answered after the usual latency with a String of N bytes
//   fault:exception-depth:N   answered with an exception whose cause chain is N deep
struct FaultCall {
  enum class Kind { kNone, kClose, kAnswerBytes, kExceptionDepth };
  Kind kind = Kind::kNone;
  std::size_t n = 0;
};
// kNone for parameters that are not one of the forms above.
FaultCall ParseFaultParameter(std::string_view parameter);

// Appends the Dubbo response for a kAnswerBytes or kExceptionDepth fault to *out.
Status AppendFaultAnswer(std::uint64_t id, const FaultCall& fault,
                         const agent::dubbo::Attachments* attachments, std::string* out);

}  // namespace meshq::provider_sim
