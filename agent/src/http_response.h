// Writes the consumer-agent's HTTP/1.1 answers: status line, Content-Length, keep-alive.
#pragma once

#include <string>
#include <string_view>

namespace meshq::agent::http {

// The standard reason phrase for `status` ("OK", "Bad Request", ...), "Unknown" otherwise.
std::string_view ReasonPhrase(int status);

// Appends one complete response to *out (so pipelined answers batch into one write):
// "HTTP/1.1 <status> <reason>", Content-Type, Content-Length, and "Connection: close" when
// !keep_alive (keep-alive is HTTP/1.1's default, so nothing is written then). Does not allocate
// beyond growing *out.
void AppendResponse(int status, std::string_view body, bool keep_alive, std::string* out,
                    std::string_view content_type = "text/plain; charset=utf-8");

}  // namespace meshq::agent::http
