// loopback_rtt: the machine's bare network limit for the mesh figures. An echo server and
// clients over loopback TCP (64-byte messages, TCP_NODELAY): the single-connection round-trip
// time (p50/p99) and the round trips per second with C connections in parallel, one thread each.
// Built by CMake (build/bench/mesh/loopback_rtt), run by bench/mesh/run.sh; the mesh's own
// numbers read as ratios of these.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "meshq/flags.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kMessage = 64;

bool ReadFull(int fd, char* p, int n) {
  while (n > 0) {
    const ssize_t r = read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<int>(r);
  }
  return true;
}

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::exit(1);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  int connections = 4;
  double seconds = 2.0;
  meshq::FlagSet flags(
      "loopback_rtt",
      "The bare loopback TCP round trip: one connection's p50/p99, then the round\n"
      "trips per second of --connections in parallel.");
  flags.Int("connections", &connections, 1, 1024, "parallel connections, one thread each");
  flags.Double("seconds", &seconds, 0.1, 3600, "length of each measurement");
  if (auto exit_code = flags.ParseCommandLine(argc, argv)) return *exit_code;

  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener, 128) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("listen");
    return 1;
  }
  const int port = ntohs(addr.sin_port);
  std::thread([listener] {
    while (true) {
      const int fd = accept(listener, nullptr, nullptr);
      if (fd < 0) return;
      std::thread([fd] {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char buf[kMessage];
        while (ReadFull(fd, buf, kMessage) && write(fd, buf, kMessage) == kMessage) {
        }
        close(fd);
      }).detach();
    }
  }).detach();

  // Single connection: latency distribution.
  {
    const int fd = Connect(port);
    char buf[kMessage] = {};
    std::vector<double> us;
    for (int i = 0; i < 20000; ++i) {
      const auto t0 = Clock::now();
      if (write(fd, buf, kMessage) != kMessage || !ReadFull(fd, buf, kMessage)) return 1;
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    std::sort(us.begin(), us.end());
    std::printf("RTT connections=1 p50_us=%.1f p99_us=%.1f\n", us[us.size() / 2],
                us[us.size() * 99 / 100]);
    close(fd);
  }
  // Parallel connections: round trips per second.
  std::atomic<long> total{0};
  std::vector<std::thread> clients;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  for (int c = 0; c < connections; ++c) {
    clients.emplace_back([&] {
      const int fd = Connect(port);
      char buf[kMessage] = {};
      long n = 0;
      while (Clock::now() < end) {
        if (write(fd, buf, kMessage) != kMessage || !ReadFull(fd, buf, kMessage)) break;
        ++n;
      }
      total += n;
      close(fd);
    });
  }
  for (auto& t : clients) t.join();
  std::printf("RTT connections=%d round_trips_per_s=%.0f\n", connections,
              static_cast<double>(total.load()) / seconds);
  return 0;
}
