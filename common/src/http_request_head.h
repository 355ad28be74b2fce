// DecodeHttpRequestHead: the pure decoder of an HTTP/1.x request's head (request line and header
// lines) for the metrics responder, which answers GETs without bodies and so needs no more.
#pragma once

#include <cstddef>
#include <string_view>

#include "meshq/decode_result.h"

namespace meshq {

struct HttpRequestHead {
  std::string_view method;   // e.g. "GET"
  std::string_view path;     // the target up to any '?'
  std::string_view version;  // "HTTP/1.0" or "HTTP/1.1"
};

// Decodes the head at the start of `input` (through its blank line; `consumed` covers it).
// NeedMore while no blank line has arrived within `max_bytes`. Errors: InvalidArgument when the
// head is longer than `max_bytes` (answered 431), Corruption when it is not an HTTP/1.x request
// head (answered 400). Pure: no I/O; the views point into `input`.
DecodeResult<HttpRequestHead> DecodeHttpRequestHead(std::string_view input, size_t max_bytes);

}  // namespace meshq
