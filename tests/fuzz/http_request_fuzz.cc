// Fuzz target: the HTTP/1.1 request parser over a pipelined stream, with small limits so the
// limit paths are reached. Never a crash; a parsed request's views lie inside the input (or its
// decoded chunked body), errors carry a status, and a complete request never asks for more.
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "http_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshq::agent::http;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.max_header_bytes = 2048;
  limits.max_headers = 16;
  limits.max_body_bytes = 4096;
  Request req;
  for (int n = 0; n < 32 && !in.empty(); ++n) {
    ParseResult r = ParseRequest(in, limits, &req);
    if (r.state == ParseState::kError) {
      FUZZ_CHECK(r.status >= 400 && r.status <= 505 && !r.reason.empty());
      break;
    }
    if (r.state == ParseState::kNeedMore) break;
    FUZZ_CHECK(r.consumed > 0 && r.consumed <= in.size());
    const std::string_view used = in.substr(0, r.consumed);
    FUZZ_CHECK(Inside(req.method, used) && Inside(req.target, used));
    FUZZ_CHECK(req.header_count <= limits.max_headers);
    for (size_t i = 0; i < req.header_count; ++i) {
      FUZZ_CHECK(Inside(req.headers[i].name, used) && Inside(req.headers[i].value, used));
    }
    FUZZ_CHECK(Inside(req.body, used) || Inside(req.body, req.body_storage));
    FUZZ_CHECK(req.body.size() <= limits.max_body_bytes);
    // The same request parses alone from exactly its bytes.
    Request alone;
    ParseResult r2 = ParseRequest(used, limits, &alone);
    FUZZ_CHECK(r2.state == ParseState::kOk && r2.consumed == r.consumed);
    in.remove_prefix(r.consumed);
  }
  return 0;
}
