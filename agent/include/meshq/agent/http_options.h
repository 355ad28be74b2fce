// HttpOptions: how the consumer-agent serves HTTP to applications — request size limits, read
// and idle timeouts, each call's deadline, and how many pipelined answers a connection may owe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace meshq::agent {

class AgentMetrics;

// What one HTTP request may hold; beyond them it is refused with the status named.
struct HttpLimits {
  std::size_t max_header_bytes = 8 * 1024;   // request line + headers + blank line; else 431
  std::size_t max_headers = 32;              // header count; more -> 431 (at most 64)
  std::size_t max_body_bytes = 1024 * 1024;  // Content-Length or decoded chunked size; else 413
};

// How long a client may take (docs/agent-protocol.md, "Limits"); 0 = no limit.
struct HttpTimeouts {
  // From a request's first byte to the end of its header block; else 408 and close.
  std::chrono::milliseconds header{10000};
  // From the end of the header block to the end of the body; else 408 and close.
  std::chrono::milliseconds body{30000};
  // A keep-alive connection with no request in progress and no answer owed is closed (without
  // an answer: none is owed) after this.
  std::chrono::milliseconds idle{60000};
};

// Connections closed by the timeouts, across all connections of an agent (any thread).
struct HttpTimeoutCounts {
  std::atomic<uint64_t> header{0};
  std::atomic<uint64_t> body{0};
  std::atomic<uint64_t> idle{0};
};

struct HttpOptions {
  HttpLimits limits;
  HttpTimeouts timeouts;
  std::chrono::milliseconds call_timeout{5000};  // deadline of each call
  std::size_t max_pipelined = 1024;              // answers outstanding before reading pauses
  AgentMetrics* metrics = nullptr;               // counts each request's outcome and time
};

}  // namespace meshq::agent
