// meshq-broker: hosts one QueueStore over TCP. Prints "listening on ADDR:PORT" once it accepts.
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "meshq/bridge/broker.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: meshq-broker --dir DIR [--bind 127.0.0.1] [--port 0] [--threads 2]\n"
               "                    [--responder-grace-ms 3000] [--dedupe-window 262144]\n"
               "                    [--commit-interval-ms 20] [--commit-linger-us 0]\n"
               "                    [--redelivery-hold-ms 30000] [--dedupe-min-age-ms 10000]\n"
               "                    [--group-expiry-ms 3600000]\n");
}

// A whole decimal number within [lo, hi], or a message and false (atoi took "abc" as 0: an
// ephemeral port, one thread, without a word).
bool ParseFlag(const std::string& flag, const std::string& value, long long lo, long long hi,
               long long* out) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(value.c_str(), &end, 10);
  if (end == value.c_str() || *end != '\0' || errno != 0 || v < lo || v > hi) {
    std::fprintf(stderr, "meshq-broker: bad %s %s (a number in %lld..%lld)\n", flag.c_str(),
                 value.c_str(), lo, hi);
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // A reader of our stdout may go away (tests read only the first line).
  std::signal(SIGPIPE, SIG_IGN);
  meshq::bridge::BrokerOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) {
      Usage();
      return 2;
    }
    std::string value = argv[++i];
    long long n = 0;
    if (arg == "--dir") {
      options.dir = value;
    } else if (arg == "--bind") {
      options.bind = value;
    } else if (arg == "--port") {
      if (!ParseFlag(arg, value, 0, 65535, &n)) return 2;
      options.port = static_cast<uint16_t>(n);
    } else if (arg == "--threads") {
      if (!ParseFlag(arg, value, 1, 64, &n)) return 2;
      options.threads = static_cast<int>(n);
    } else if (arg == "--dedupe-window") {
      // Its table is allocated up front: 16M ids is ~150 MB before any id arrives.
      if (!ParseFlag(arg, value, 1, 1LL << 24, &n)) return 2;
      options.dedupe_window = static_cast<size_t>(n);
    } else if (arg == "--responder-grace-ms") {
      if (!ParseFlag(arg, value, 0, 3'600'000, &n)) return 2;
      options.responder_grace = std::chrono::milliseconds(n);
    } else if (arg == "--dedupe-min-age-ms") {
      if (!ParseFlag(arg, value, 0, 3'600'000, &n)) return 2;
      options.dedupe_min_age = std::chrono::milliseconds(n);
    } else if (arg == "--group-expiry-ms") {
      if (!ParseFlag(arg, value, 1, 30LL * 24 * 3'600'000, &n)) return 2;
      options.group_expiry = std::chrono::milliseconds(n);
    } else if (arg == "--redelivery-hold-ms") {
      if (!ParseFlag(arg, value, 0, 3'600'000, &n)) return 2;
      options.redelivery_hold = std::chrono::milliseconds(n);
    } else if (arg == "--commit-interval-ms") {
      if (!ParseFlag(arg, value, 1, 60'000, &n)) return 2;
      options.offset_commit_interval = std::chrono::milliseconds(n);
    } else if (arg == "--commit-linger-us") {
      if (!ParseFlag(arg, value, 0, 1'000'000, &n)) return 2;
      options.commit_linger = std::chrono::microseconds(n);
    } else {
      Usage();
      return 2;
    }
  }
  std::unique_ptr<meshq::bridge::Broker> broker;
  meshq::Status s = meshq::bridge::Broker::Open(options, &broker);
  if (!s.ok()) {
    std::fprintf(stderr, "meshq-broker: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("listening on %s:%u\n", options.bind.c_str(), broker->port());
  std::fflush(stdout);
  s = broker->Run();
  if (!s.ok()) {
    std::fprintf(stderr, "meshq-broker: shutdown: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
