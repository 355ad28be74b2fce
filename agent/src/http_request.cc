// Incremental HTTP/1.1 request parser (RFC 9112 subset the consumer-agent needs): request line,
// headers, Content-Length or chunked bodies, keep-alive rules, size limits.
#include "http_request.h"

#include <algorithm>
#include <cstdint>

namespace meshq::agent::http {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

// RFC 9110 tchar: the characters of a method or header name.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True when the comma-separated header value contains `token` (case-insensitive).
bool HasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    if (EqualsNoCase(Trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// The line starting at `pos` without its CRLF or LF; false when no LF has arrived yet.
bool NextLine(std::string_view in, std::size_t pos, std::string_view* line, std::size_t* next) {
  const std::size_t lf = in.find('\n', pos);
  if (lf == std::string_view::npos) return false;
  std::size_t end = lf;
  if (end > pos && in[end - 1] == '\r') --end;
  *line = in.substr(pos, end - pos);
  *next = lf + 1;
  return true;
}

ParseResult Error(int status, std::string_view reason) {
  ParseResult r;
  r.state = ParseState::kError;
  r.status = status;
  r.reason = reason;
  return r;
}

ParseResult NeedMore() { return ParseResult(); }

bool HasControlChars(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7F;
  });
}

// Parses "METHOD SP target SP HTTP/1.x".
ParseResult ParseRequestLine(std::string_view line, Request* out) {
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Error(400, "malformed request line");
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Error(400, "malformed request line");
  }
  out->method = line.substr(0, sp1);
  out->target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(out->method)) return Error(400, "malformed method");
  if (out->target.empty() || HasControlChars(out->target)) return Error(400, "malformed target");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return Error(400, "malformed HTTP version");
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    return Error(505, "HTTP version not supported");
  }
  out->version_minor = version[7] - '0';
  ParseResult ok;
  ok.state = ParseState::kOk;
  return ok;
}

// Decodes a chunked body starting at `pos`; on kOk, consumed is the end of the trailers.
ParseResult ParseChunked(std::string_view in, std::size_t pos, const Limits& limits, Request* out) {
  out->body_storage.clear();
  const std::size_t trailer_limit = limits.max_header_bytes;
  for (;;) {
    std::string_view line;
    std::size_t next;
    if (!NextLine(in, pos, &line, &next)) {
      if (in.size() - pos > 1024) return Error(400, "chunk size line too long");
      return NeedMore();
    }
    const std::string_view size_text = line.substr(0, line.find(';'));  // drop extensions
    std::string_view digits = Trim(size_text);
    if (digits.empty() || digits.size() > 15) return Error(400, "bad chunk size");
    std::uint64_t size = 0;
    for (char c : digits) {
      int d;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
      else
        return Error(400, "bad chunk size");
      size = size * 16 + static_cast<std::uint64_t>(d);
    }
    pos = next;
    if (size == 0) break;
    if (out->body_storage.size() + size > limits.max_body_bytes) {
      return Error(413, "request body too large");
    }
    if (in.size() - pos < size) return NeedMore();
    out->body_storage.append(in.data() + pos, size);
    pos += size;
    // Chunk data is followed by CRLF (or a bare LF).
    if (pos >= in.size()) return NeedMore();
    if (in[pos] == '\r') {
      if (pos + 1 >= in.size()) return NeedMore();
      if (in[pos + 1] != '\n') return Error(400, "missing CRLF after chunk");
      pos += 2;
    } else if (in[pos] == '\n') {
      pos += 1;
    } else {
      return Error(400, "missing CRLF after chunk");
    }
  }
  // Trailer fields (ignored) up to an empty line.
  const std::size_t trailers_start = pos;
  for (;;) {
    std::string_view line;
    std::size_t next;
    if (!NextLine(in, pos, &line, &next)) {
      if (in.size() - trailers_start > trailer_limit) return Error(431, "trailers too large");
      return NeedMore();
    }
    pos = next;
    if (line.empty()) break;
    if (pos - trailers_start > trailer_limit) return Error(431, "trailers too large");
  }
  out->body = out->body_storage;
  ParseResult ok;
  ok.state = ParseState::kOk;
  ok.consumed = pos;
  return ok;
}

}  // namespace

std::string_view Request::Header(std::string_view name, bool* found) const {
  for (std::size_t i = 0; i < header_count; ++i) {
    if (EqualsNoCase(headers[i].name, name)) {
      if (found) *found = true;
      return headers[i].value;
    }
  }
  if (found) *found = false;
  return {};
}

ParseResult ParseRequest(std::string_view in, const Limits& limits, Request* out) {
  out->header_count = 0;
  out->body = {};
  out->keep_alive = true;
  out->expect_continue = false;
  out->headers_complete = false;
  const std::size_t max_headers = std::min(limits.max_headers, kMaxHeaders);

  // RFC 9112 §2.2: ignore empty lines before the request line (bounded, it is not a header).
  std::size_t pos = 0;
  while (pos < in.size() && pos < 8 && (in[pos] == '\r' || in[pos] == '\n')) ++pos;

  std::string_view line;
  std::size_t next;
  if (!NextLine(in, pos, &line, &next)) {
    if (in.size() > limits.max_header_bytes) return Error(431, "request line too long");
    // Reject garbage before the line completes: a method is a token followed by a space.
    const std::string_view partial = in.substr(pos);
    const std::size_t sp = partial.find(' ');
    const std::string_view method = partial.substr(0, sp);
    if (!method.empty() && !std::all_of(method.begin(), method.end(), IsTokenChar)) {
      return Error(400, "malformed method");
    }
    return NeedMore();
  }
  if (next > limits.max_header_bytes) return Error(431, "request line too long");
  ParseResult r = ParseRequestLine(line, out);
  if (r.state != ParseState::kOk) return r;
  pos = next;

  // Header fields up to the empty line.
  for (;;) {
    if (!NextLine(in, pos, &line, &next)) {
      if (in.size() > limits.max_header_bytes) return Error(431, "request header fields too large");
      return NeedMore();
    }
    if (next > limits.max_header_bytes) return Error(431, "request header fields too large");
    pos = next;
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') return Error(400, "obsolete line folding");
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Error(400, "header line without colon");
    const std::string_view name = line.substr(0, colon);
    if (!IsToken(name)) return Error(400, "malformed header name");
    const std::string_view value = Trim(line.substr(colon + 1));
    if (HasControlChars(value)) return Error(400, "control character in header value");
    if (out->header_count >= max_headers) return Error(431, "too many header fields");
    out->headers[out->header_count++] = HeaderField{name, value};
  }
  const std::size_t header_end = pos;

  // Framing and connection semantics.
  bool has_length = false, chunked = false;
  std::uint64_t length = 0;
  bool conn_close = false, conn_keep_alive = false;
  for (std::size_t i = 0; i < out->header_count; ++i) {
    const HeaderField& h = out->headers[i];
    if (EqualsNoCase(h.name, "content-length")) {
      if (h.value.empty() || h.value.size() > 18 ||
          !std::all_of(h.value.begin(), h.value.end(),
                       [](char c) { return c >= '0' && c <= '9'; })) {
        return Error(400, "bad Content-Length");
      }
      std::uint64_t v = 0;
      for (char c : h.value) v = v * 10 + static_cast<std::uint64_t>(c - '0');
      if (has_length && v != length) return Error(400, "conflicting Content-Length");
      has_length = true;
      length = v;
    } else if (EqualsNoCase(h.name, "transfer-encoding")) {
      if (!EqualsNoCase(h.value, "chunked") || chunked) {
        return Error(501, "unsupported Transfer-Encoding");
      }
      chunked = true;
    } else if (EqualsNoCase(h.name, "connection")) {
      conn_close |= HasToken(h.value, "close");
      conn_keep_alive |= HasToken(h.value, "keep-alive");
    } else if (EqualsNoCase(h.name, "expect")) {
      if (!EqualsNoCase(h.value, "100-continue")) return Error(400, "unsupported Expect");
      out->expect_continue = true;
    }
  }
  out->keep_alive = out->version_minor == 1 ? !conn_close : (conn_keep_alive && !conn_close);
  if (chunked && has_length) return Error(400, "both Content-Length and chunked");
  out->headers_complete = true;

  ParseResult ok;
  ok.state = ParseState::kOk;
  if (chunked) {
    if (out->version_minor == 0) return Error(400, "chunked body in HTTP/1.0");
    return ParseChunked(in, header_end, limits, out);
  }
  if (!has_length) {
    if (out->method == "POST" || out->method == "PUT" || out->method == "PATCH") {
      return Error(411, "Content-Length required");
    }
    ok.consumed = header_end;
    return ok;
  }
  if (length > limits.max_body_bytes) return Error(413, "request body too large");
  if (in.size() - header_end < length) return NeedMore();
  out->body = in.substr(header_end, static_cast<std::size_t>(length));
  ok.consumed = header_end + static_cast<std::size_t>(length);
  return ok;
}

}  // namespace meshq::agent::http
