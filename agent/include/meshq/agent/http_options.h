// HttpOptions: how the consumer-agent serves HTTP to applications — request size limits, each
// call's deadline, and how many pipelined answers a connection may owe.
#pragma once

#include <chrono>
#include <cstddef>

namespace meshq::agent {

// What one HTTP request may hold; beyond them it is refused with the status named.
struct HttpLimits {
  std::size_t max_header_bytes = 8 * 1024;   // request line + headers + blank line; else 431
  std::size_t max_headers = 32;              // header count; more -> 431 (at most 64)
  std::size_t max_body_bytes = 1024 * 1024;  // Content-Length or decoded chunked size; else 413
};

struct HttpOptions {
  HttpLimits limits;
  std::chrono::milliseconds call_timeout{5000};  // deadline of each call
  std::size_t max_pipelined = 1024;              // answers outstanding before reading pauses
};

}  // namespace meshq::agent
