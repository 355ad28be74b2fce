// AcceptGuard: what one accept loop does when accept() fails for want of resources (out of file
// descriptors, kernel memory). Without it such a loop spins: the pending connection keeps the
// listening socket readable and every retry fails at once, while the client hangs in the backlog.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace meshq {

class AcceptGuard {
 public:
  // `who` prefixes the log line ("meshq-broker"). Opens the reserve descriptor.
  explicit AcceptGuard(std::string who);
  ~AcceptGuard();
  AcceptGuard(const AcceptGuard&) = delete;
  AcceptGuard& operator=(const AcceptGuard&) = delete;

  // True for the errno values of an accept() that failed for want of resources (EMFILE, ENFILE,
  // ENOBUFS, ENOMEM): the connection stays queued, so retrying at once fails again.
  static bool IsExhaustion(int err);

  // After accept() on `listen_fd` failed with `err`: when out of descriptors, frees the reserve
  // descriptor to accept and close the connections waiting (each client sees a prompt close
  // instead of hanging), then takes the reserve back. Returns how long the loop waits before its
  // next accept: 10 ms doubling to 1 s while failures continue. Logs to stderr at most once a
  // second. Not thread-safe: one guard per accept loop.
  std::chrono::milliseconds OnError(int listen_fd, int err);
  // After a successful accept: the next failure waits the shortest time again.
  void OnSuccess() { delay_ = std::chrono::milliseconds(0); }

  // Connections accepted only to be closed, since construction.
  uint64_t refused() const { return refused_; }

 private:
  const std::string who_;
  int reserve_ = -1;
  std::chrono::milliseconds delay_{0};
  uint64_t refused_ = 0;
  std::chrono::steady_clock::time_point last_log_{};
};

}  // namespace meshq
