// FetchMetrics: resolve, non-blocking connect, write the request, read to EOF, all under one
// deadline (poll), then split the status line and head from the body.
#include "metrics_fetch.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace meshq::cli {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxAnswer = 16u << 20;

int MillisLeft(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Waits until `fd` is ready for `events`; false on timeout.
bool WaitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, MillisLeft(deadline));
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

Status FetchMetrics(const std::string& address, const std::string& path,
                    std::chrono::milliseconds timeout, std::string* body) {
  const auto deadline = Clock::now() + timeout;
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return Status::InvalidArgument("not HOST:PORT: " + address);
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port = address.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return Status::IOError(gai_strerror(rc));
  }
  Fd sock;
  Status failure = Status::IOError("no address");
  for (addrinfo* ai = found; ai != nullptr && sock.fd < 0; ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int err = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        socklen_t len = sizeof err;
        err = !WaitFor(fd, POLLOUT, deadline)                         ? ETIMEDOUT
              : getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ? errno
                                                                      : err;
        if (err == EINPROGRESS) err = 0;
      }
    }
    if (err != 0) {
      failure = Status::IOError(std::string("connect: ") + std::strerror(err));
      close(fd);
      continue;
    }
    sock.fd = fd;
  }
  freeaddrinfo(found);
  if (sock.fd < 0) return failure;

  const std::string request =
      "GET " + path + " HTTP/1.0\r\nHost: " + address + "\r\nAccept: text/plain\r\n\r\n";
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(sock.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitFor(sock.fd, POLLOUT, deadline)) return Status::IOError("timed out");
    } else {
      return Status::IOError(std::string("send: ") + std::strerror(errno));
    }
  }
  std::string answer;
  for (;;) {
    char buf[16384];
    const ssize_t n = recv(sock.fd, buf, sizeof buf, 0);
    if (n > 0) {
      answer.append(buf, static_cast<size_t>(n));
      if (answer.size() > kMaxAnswer) return Status::IOError("answer too large");
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!WaitFor(sock.fd, POLLIN, deadline)) return Status::IOError("timed out");
    } else {
      return Status::IOError(std::string("recv: ") + std::strerror(errno));
    }
  }
  const size_t head_end = answer.find("\r\n\r\n");
  if (answer.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos) {
    return Status::IOError("not an HTTP answer");
  }
  const size_t sp = answer.find(' ');
  const std::string code = answer.substr(sp + 1, 3);
  if (code != "200") {
    const size_t eol = answer.find("\r\n");
    return Status::IOError("HTTP " + answer.substr(sp + 1, eol - sp - 1));
  }
  *body = answer.substr(head_end + 4);
  return Status::OK();
}

}  // namespace meshq::cli
