// The agent-to-agent protocol (--mode direct): length-prefixed binary frames multiplexed by
// request id over a few persistent TCP connections, many frames per write. Layout and rules:
// docs/agent-protocol.md. Encoders append to a batch buffer; the decoder is a pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "meshq/decode_result.h"
#include "meshq/status.h"

namespace meshq::agent::frame {

inline constexpr std::size_t kLengthSize = 4;  // u32 big-endian: bytes after the length field
inline constexpr std::size_t kDefaultMaxFrame = 1u << 20;

enum class Type : std::uint8_t {
  kServiceDef = 1,  // binds a per-connection service ref to (interface, method, parameter types)
  kRequest = 2,     // a call: request id, deadline, service ref, parameter
  kResponse = 3,    // an answer: request id, status, result
  kPing = 4,        // liveness probe, answered by kPong with the same nonce
  kPong = 5,
  kGoAway = 6,  // sender takes no new requests on this connection; pending ones still answered
};

enum class ResponseStatus : std::uint8_t {
  kOk = 0,             // result = answer text (e.g. the decimal hash)
  kProviderError = 1,  // provider threw or answered a non-OK Dubbo status; result = message
  kTimeout = 2,        // deadline passed before the provider answered; result = message
  kUnavailable = 3,    // provider unreachable / connection lost; the call was not executed
  kBadRequest = 4,     // unknown service ref, unsupported parameter type...; result = message
  kOverloaded = 5,     // provider-agent refused the call (queue full); the call was not executed
  kLost = 6,      // provider connection lost after the call was sent: it may or may not have run
  kTooLarge = 7,  // the provider answered, but the answer does not fit in one frame
};
// "ok", "provider error", ... ("unknown" for values outside the enum).
const char* ResponseStatusName(ResponseStatus s);

// The three strings that are constant per service and method; interned per connection.
struct ServiceKey {
  std::string interface_name;
  std::string method;
  std::string parameter_types;
  bool operator==(const ServiceKey&) const = default;
};

// A decoded frame. Which fields are meaningful depends on `type`; views point into the decoder's
// input and live as long as that buffer is unchanged.
struct Frame {
  Type type = Type::kPing;
  std::uint64_t id = 0;           // kRequest/kResponse: request id; kPing/kPong: nonce
  std::uint16_t service_ref = 0;  // kServiceDef, kRequest
  std::uint32_t deadline_ms = 0;  // kRequest: time budget left when sent, 0 = none
  ResponseStatus status = ResponseStatus::kOk;               // kResponse
  std::string_view interface_name, method, parameter_types;  // kServiceDef
  std::string_view payload;  // kRequest: parameter bytes; kResponse: result bytes
};

// Encoders: append exactly one frame to *out (a batch buffer; write it whenever convenient).
void AppendServiceDef(std::uint16_t ref, std::string_view interface_name, std::string_view method,
                      std::string_view parameter_types, std::string* out);
void AppendRequest(std::uint64_t id, std::uint16_t service_ref, std::uint32_t deadline_ms,
                   std::string_view parameter, std::string* out);
void AppendResponse(std::uint64_t id, ResponseStatus status, std::string_view result,
                    std::string* out);
void AppendPing(std::uint64_t nonce, std::string* out);
void AppendPong(std::uint64_t nonce, std::string* out);
void AppendGoAway(std::string* out);

// Streaming decoder: the first complete frame in `in`, need-more while incomplete, error on an
// unknown type, a frame longer than max_frame (checked from the length field alone), or a
// payload that does not match its type's layout. Never allocates.
DecodeResult<Frame> DecodeFrame(std::string_view in, std::size_t max_frame = kDefaultMaxFrame);

// Sender side of interning: one per connection. Returns the ref for `key`, first appending a
// kServiceDef frame to *out when the key is new on this connection (so the definition always
// precedes its first use in the byte stream). Busy when 65536 distinct keys are in use.
class ServiceInterner {
 public:
  Status Intern(std::string_view interface_name, std::string_view method,
                std::string_view parameter_types, std::string* out, std::uint16_t* ref);

 private:
  std::vector<ServiceKey> keys_;  // index = ref; a handful of entries, linear search is fastest
};

// Receiver side of interning: one per connection.
class ServiceTable {
 public:
  // Records a kServiceDef frame. InvalidArgument if `f` is not one, or redefines a ref
  // differently (a protocol violation: drop the connection).
  Status Define(const Frame& f);
  // The key bound to `ref`, or nullptr if never defined on this connection.
  const ServiceKey* Find(std::uint16_t ref) const;

 private:
  std::vector<ServiceKey> keys_;
  std::vector<bool> defined_;
};

}  // namespace meshq::agent::frame
