// Incremental HTTP/1.1 request parser for the consumer-agent: a pure function over the bytes
// received so far, so keep-alive and pipelining are just "parse again after `consumed`".
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "meshq/agent/http_options.h"

namespace meshq::agent::http {

using Limits = HttpLimits;  // meshq/agent/http_options.h

struct HeaderField {
  std::string_view name;   // as received (compare case-insensitively)
  std::string_view value;  // leading/trailing spaces and tabs trimmed
};

inline constexpr std::size_t kMaxHeaders = 64;

// A parsed request. Views point into the caller's input buffer (or, for a chunked body, into
// `body_storage`); they stay valid until that buffer or this object changes. Reuse one Request
// per connection: parsing resets it without releasing capacity.
struct Request {
  std::string_view method;
  std::string_view target;
  int version_minor = 1;         // HTTP/1.<version_minor>, 0 or 1
  bool keep_alive = true;        // HTTP/1.1 default, "Connection: close" / 1.0 rules applied
  bool expect_continue = false;  // "Expect: 100-continue" was sent
  // Also meaningful after kNeedMore: the header block is complete and only body bytes are
  // missing. With expect_continue, that is when a server sends "HTTP/1.1 100 Continue" (once).
  bool headers_complete = false;
  std::array<HeaderField, kMaxHeaders> headers{};
  std::size_t header_count = 0;
  std::string_view body;
  std::string body_storage;  // decoded chunked body; otherwise unused

  // First header named `name` (case-insensitive), or an empty view with found=false.
  std::string_view Header(std::string_view name, bool* found = nullptr) const;
};

enum class ParseState : unsigned char { kOk, kNeedMore, kError };

struct ParseResult {
  ParseState state = ParseState::kNeedMore;
  std::size_t consumed = 0;  // kOk: bytes of this request (header + body)
  int status = 0;            // kError: 400, 411, 413, 431, 501 or 505
  std::string_view reason;   // kError: static text saying what was wrong
};

// Parses the first request in `in`.
// - kOk: *out is filled; the next pipelined request starts at in.substr(consumed).
// - kNeedMore: `in` is a valid prefix of a request within limits; read more and call again with
//   the same buffer start (parsing restarts; cost is linear in the buffered bytes).
// - kError: answer `status` with Connection: close. 400 malformed syntax or bad Content-Length,
//   411 POST/PUT without Content-Length or chunked body, 413 body over the limit (detected from
//   Content-Length before the body arrives), 431 headers over the limits, 501 a Transfer-Encoding
//   other than chunked, 505 an HTTP version other than 1.0/1.1.
// Accepts both CRLF and bare LF line endings (RFC 9112 §2.2 tolerance). Thread-safe.
ParseResult ParseRequest(std::string_view in, const Limits& limits, Request* out);

}  // namespace meshq::agent::http
