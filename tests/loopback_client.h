// Test clients over loopback sockets, for the tests of servers: a blocking connect, and one
// HTTP/1.1 exchange (a request, then everything the server sends until it closes). Every wait
// is bounded.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace meshq::testing {

// A connected socket to 127.0.0.1:port, or -1.
inline int ConnectLoopback(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Everything the peer sends until it closes, or until `timeout`.
inline std::string ReadUntilClosed(int fd,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  std::string out;
  const auto until = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Sends `request` on a new connection and returns the whole answer ("connect failed" or
// "write failed" when it could not be sent).
inline std::string HttpExchange(uint16_t port, const std::string& request) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "connect failed";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return "write failed";
  }
  std::string out = ReadUntilClosed(fd);
  close(fd);
  return out;
}

inline std::string HttpGet(uint16_t port, const std::string& path, const char* method = "GET") {
  return HttpExchange(port, std::string(method) + " " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
}

// The body of an answer (after its blank line).
inline std::string HttpBody(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

}  // namespace meshq::testing
