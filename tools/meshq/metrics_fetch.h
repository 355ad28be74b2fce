// FetchMetrics: one plain HTTP/1.0 GET of a server's /metrics over a blocking loopback socket,
// bounded in time and size; what `meshq top` polls.
#pragma once

#include <chrono>
#include <string>

#include "meshq/status.h"

namespace meshq::cli {

// GETs `path` from `address` ("host:port"; the host a name or an IPv4/IPv6 literal) and puts the
// answer's body in *body. IOError saying why ("connect: Connection refused", "timed out",
// "HTTP 404 Not Found"...; the caller names the address) otherwise.
// The whole exchange takes at most `timeout`; a body over 16 MiB is refused.
Status FetchMetrics(const std::string& address, const std::string& path,
                    std::chrono::milliseconds timeout, std::string* body);

}  // namespace meshq::cli
