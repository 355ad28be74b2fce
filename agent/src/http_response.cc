// HTTP/1.1 response writer for the consumer-agent.
#include "http_response.h"

#include <charconv>

namespace meshq::agent::http {

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
  }
  return "Unknown";
}

void AppendResponse(int status, std::string_view body, bool keep_alive, std::string* out,
                    std::string_view content_type) {
  char num[24];
  out->append("HTTP/1.1 ");
  auto r = std::to_chars(num, num + sizeof num, status);
  out->append(num, r.ptr);
  out->push_back(' ');
  out->append(ReasonPhrase(status));
  out->append("\r\nContent-Type: ");
  out->append(content_type);
  out->append("\r\nContent-Length: ");
  r = std::to_chars(num, num + sizeof num, body.size());
  out->append(num, r.ptr);
  out->append(keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
  out->append(body);
}

}  // namespace meshq::agent::http
