// DecodeHttpRequestHead: request line "METHOD SP target SP HTTP/1.x", then "name: value" lines,
// each ended by CRLF, then an empty line.
#include "http_request_head.h"

namespace meshq {
namespace {

bool IsTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool AllTokenChars(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// Printable ASCII or obs-text, no controls (tab allowed in header values).
bool VisibleText(std::string_view s, bool allow_tab_and_space) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((c == ' ' || c == '\t') && allow_tab_and_space) continue;
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

DecodeResult<HttpRequestHead> Malformed(const char* why) {
  return DecodeResult<HttpRequestHead>::Error(Status::Corruption(why));
}

}  // namespace

DecodeResult<HttpRequestHead> DecodeHttpRequestHead(std::string_view input, size_t max_bytes) {
  const size_t end = input.find("\r\n\r\n");
  if (end == std::string_view::npos || end + 4 > max_bytes) {
    if (input.size() >= max_bytes) {
      return DecodeResult<HttpRequestHead>::Error(
          Status::InvalidArgument("request head over " + std::to_string(max_bytes) + " bytes"));
    }
    // A request line that is already wrong need not wait for the rest.
    const size_t line_end = input.find("\r\n");
    if (line_end == std::string_view::npos && input.find('\n') != std::string_view::npos) {
      return Malformed("bare LF line end");
    }
    return DecodeResult<HttpRequestHead>::NeedMore();
  }
  const std::string_view head = input.substr(0, end + 2);  // every line with its CRLF
  const size_t line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return Malformed("request line is not METHOD TARGET VERSION");
  HttpRequestHead h;
  h.method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  h.version = line.substr(sp2 + 1);
  if (!AllTokenChars(h.method)) return Malformed("bad method");
  if (target.empty() || target[0] != '/' || !VisibleText(target, false)) {
    return Malformed("bad request target");
  }
  if (h.version != "HTTP/1.1" && h.version != "HTTP/1.0") return Malformed("not HTTP/1.x");
  h.path = target.substr(0, target.find('?'));
  for (size_t at = line_end + 2; at < head.size();) {
    const size_t next = head.find("\r\n", at);
    const std::string_view field = head.substr(at, next - at);
    const size_t colon = field.find(':');
    if (colon == std::string_view::npos || !AllTokenChars(field.substr(0, colon)) ||
        !VisibleText(field.substr(colon + 1), true)) {
      return Malformed("bad header line");
    }
    at = next + 2;
  }
  return DecodeResult<HttpRequestHead>::Ok(h, end + 4);
}

}  // namespace meshq
