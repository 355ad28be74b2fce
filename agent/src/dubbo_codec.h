// Dubbo 2 protocol framing and bodies (hessian2 serialization): the provider-agent encodes
// requests and decodes responses; the provider simulator does the reverse. Layouts: docs/dubbo.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hessian2.h"
#include "meshq/decode_result.h"
#include "meshq/status.h"

namespace meshq::agent::dubbo {

inline constexpr std::uint16_t kMagic = 0xdabb;
inline constexpr std::size_t kHeaderSize = 16;
inline constexpr std::uint8_t kFlagRequest = 0x80;
inline constexpr std::uint8_t kFlagTwoWay = 0x40;
inline constexpr std::uint8_t kFlagEvent = 0x20;
inline constexpr std::uint8_t kSerializationMask = 0x1f;
inline constexpr std::uint8_t kHessian2 = 2;
inline constexpr std::size_t kDefaultMaxBody = 8u << 20;  // Dubbo's own payload default
inline constexpr std::string_view kDefaultDubboVersion = "2.0.2";

// Header status byte (meaningful in responses).
enum class ResponseStatus : std::uint8_t {
  kOk = 20,
  kClientTimeout = 30,
  kServerTimeout = 31,
  kBadRequest = 40,
  kBadResponse = 50,
  kServiceNotFound = 60,
  kServiceError = 70,
  kServerError = 80,
  kClientError = 90,
  kServerThreadpoolExhausted = 100,
};
// "OK", "client timeout", ... or "status N" for unknown codes.
const char* ResponseStatusName(std::uint8_t status);

// First hessian2 value of an OK response body.
enum class ResponseType : std::int32_t {
  kWithException = 0,
  kValue = 1,
  kNullValue = 2,
  kWithExceptionWithAttachments = 3,
  kValueWithAttachments = 4,
  kNullValueWithAttachments = 5,
};

struct Header {
  std::uint8_t flags = 0;  // kFlag* | serialization id
  std::uint8_t status = 0;
  std::uint64_t id = 0;
  std::uint32_t body_length = 0;

  bool is_request() const { return flags & kFlagRequest; }
  bool is_twoway() const { return flags & kFlagTwoWay; }
  bool is_event() const { return flags & kFlagEvent; }
  std::uint8_t serialization() const { return flags & kSerializationMask; }
};

// One frame: the header and a view of its body inside the decoder's input.
struct Frame {
  Header header;
  std::string_view body;
};

// Writes the 16 header bytes (big-endian) to out[0..15].
void EncodeHeader(const Header& h, char* out);

// Streaming frame decoder: the first complete frame in `in` (consumed = 16 + body length),
// need-more while the header or body is incomplete, error on bad magic, a serialization other
// than hessian2, or a body longer than max_body (checked as soon as the header is complete).
DecodeResult<Frame> DecodeFrame(std::string_view in, std::size_t max_body = kDefaultMaxBody);

// A call as the consumer side describes it. Arguments are text, converted per descriptor:
// Ljava/lang/String; -> string; I, Ljava/lang/Integer; -> int; J, Ljava/lang/Long; -> long;
// Z, Ljava/lang/Boolean; -> boolean ("true"/"false"). Other descriptors are InvalidArgument.
struct Call {
  std::string_view dubbo_version = kDefaultDubboVersion;
  std::string_view service;  // interface name, also the "path" and "interface" attachments
  std::string_view service_version = "0.0.0";
  std::string_view method;
  std::string_view parameter_types;  // JVM descriptors concatenated, e.g. "Ljava/lang/String;"
  std::span<const std::string_view> arguments;
};

// Appends a complete two-way request frame (header + body) for `call` with id `id` to *out.
// InvalidArgument (nothing appended) on invalid UTF-8, unsupported descriptors, a descriptor /
// argument count mismatch, or an unparsable number.
Status AppendRequest(std::uint64_t id, const Call& call, std::string* out);

// Appends a heartbeat: a two-way event request with a null body (is_request) or its answer, an
// OK event response with a null body carrying the same id.
void AppendHeartbeat(std::uint64_t id, bool is_request, std::string* out);

// A decoded request body (provider side).
struct Invocation {
  std::string dubbo_version;
  std::string service;
  std::string service_version;
  std::string method;
  std::string parameter_types;
  std::vector<hessian2::Value> arguments;
  std::vector<std::pair<std::string, std::string>> attachments;
};

// Number of parameters in a descriptor string ("Ljava/lang/String;[II" -> 3), or
// InvalidArgument when it is malformed.
Status CountParameters(std::string_view descriptor, std::size_t* count);

// Decodes the body of a non-event request frame. Corruption on malformed hessian2 or a body
// that ends early.
Status DecodeInvocation(std::string_view body, Invocation* out);

// True when a consumer of this dubbo version expects response attachments (Dubbo's rule:
// 2.0.2 <= version <= 2.0.99).
bool SupportsResponseAttachments(std::string_view dubbo_version);

// Response encoders (provider side). `attachments` non-null selects the *_WITH_ATTACHMENTS type.
using Attachments = std::vector<std::pair<std::string, std::string>>;
Status AppendValueResponse(std::uint64_t id, const hessian2::Value& value,
                           const Attachments* attachments, std::string* out);
// RESPONSE_WITH_EXCEPTION carrying a java.lang.RuntimeException-shaped object with `message`.
Status AppendExceptionResponse(std::uint64_t id, std::string_view exception_class,
                               std::string_view message, const Attachments* attachments,
                               std::string* out);
// RESPONSE_WITH_EXCEPTION carrying `throwable` as it is (e.g. an object with a cause chain).
Status AppendThrowableResponse(std::uint64_t id, const hessian2::Value& throwable,
                               const Attachments* attachments, std::string* out);
// A non-OK status (e.g. kServiceError) whose body is the error message string.
Status AppendErrorResponse(std::uint64_t id, ResponseStatus status, std::string_view message,
                           std::string* out);

// A decoded response (consumer side of Dubbo, i.e. the provider-agent).
struct Response {
  enum class Outcome : unsigned char {
    kValue,      // `value` holds the result
    kNull,       // the method returned null
    kException,  // the provider threw; `message` is "<class>: <detail>", `value` the object
    kError,      // non-OK header status; `message` is the provider's error string
  };
  std::uint64_t id = 0;
  std::uint8_t status = 0;  // header status byte
  Outcome outcome = Outcome::kNull;
  hessian2::Value value;
  std::string message;
  Attachments attachments;
};

// Decodes a complete non-event response frame. Corruption on malformed bodies. The result value
// for the common case (an int) costs no allocation; pass want_attachments=false to skip them.
Status DecodeResponse(const Frame& frame, Response* out, bool want_attachments = true);

// The answer text of a response: the value rendered by hessian2::ToText for kValue, "null" for
// kNull, and the message otherwise.
std::string ResponseText(const Response& r);

}  // namespace meshq::agent::dubbo
