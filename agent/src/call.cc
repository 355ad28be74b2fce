// Names and HTTP mapping of call outcomes: one table so every hop reports failures alike.
#include "meshq/agent/call.h"

namespace meshq::agent {

const char* CallStatusName(CallStatus s) {
  switch (s) {
    case CallStatus::kOk:
      return "ok";
    case CallStatus::kBadRequest:
      return "bad request";
    case CallStatus::kProviderError:
      return "provider error";
    case CallStatus::kTimeout:
      return "timeout";
    case CallStatus::kNotExecuted:
      return "provider unavailable";
    case CallStatus::kLost:
      return "connection lost after sending, outcome unknown";
    case CallStatus::kNoProvider:
      return "no provider";
    case CallStatus::kTooLarge:
      return "answer too large";
  }
  return "unknown";
}

int HttpStatusFor(CallStatus s) {
  switch (s) {
    case CallStatus::kOk:
      return 200;
    case CallStatus::kBadRequest:
      return 400;
    case CallStatus::kProviderError:
      return 500;
    case CallStatus::kTimeout:
      return 504;
    case CallStatus::kNotExecuted:
    case CallStatus::kNoProvider:
      return 503;
    case CallStatus::kLost:
    case CallStatus::kTooLarge:
      return 502;
  }
  return 500;
}

}  // namespace meshq::agent
