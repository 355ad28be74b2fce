// AcceptGuard: shed connections with a reserve descriptor, pace the retries, rate-limit the log.
#include "meshq/accept_guard.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace meshq {
namespace {
constexpr std::chrono::milliseconds kFirstDelay{10};
constexpr std::chrono::milliseconds kMaxDelay{1000};
// Bounds one shedding round, so the loop's thread is not held by a flood of connections.
constexpr int kMaxShedPerRound = 256;

int OpenReserve() { return open("/dev/null", O_RDONLY | O_CLOEXEC); }
}  // namespace

AcceptGuard::AcceptGuard(std::string who) : who_(std::move(who)), reserve_(OpenReserve()) {}

AcceptGuard::~AcceptGuard() {
  if (reserve_ >= 0) close(reserve_);
}

bool AcceptGuard::IsExhaustion(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

std::chrono::milliseconds AcceptGuard::OnError(int listen_fd, int err) {
  if ((err == EMFILE || err == ENFILE) && reserve_ >= 0) {
    close(reserve_);
    reserve_ = -1;
    for (int i = 0; i < kMaxShedPerRound; ++i) {
      // poll first: the listening socket may be in blocking mode.
      pollfd p{listen_fd, POLLIN, 0};
      if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN)) break;
      const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) break;
      close(fd);
      ++refused_;
    }
  }
  // Taken back at once; when another thread took the descriptor, the next failure tries again.
  if (reserve_ < 0) reserve_ = OpenReserve();
  delay_ = delay_.count() == 0 ? kFirstDelay : std::min(delay_ * 2, kMaxDelay);
  const auto now = std::chrono::steady_clock::now();
  if (now - last_log_ >= std::chrono::seconds(1)) {
    last_log_ = now;
    std::fprintf(stderr, "%s: accept: %s; %llu connections refused (closed at once) so far\n",
                 who_.c_str(), std::strerror(err), static_cast<unsigned long long>(refused_));
  }
  return delay_;
}

}  // namespace meshq
