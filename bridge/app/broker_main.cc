// meshq-broker: hosts one QueueStore over TCP. Prints "listening on ADDR:PORT" once it accepts.
#include <algorithm>
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
               "                    [--commit-interval-ms 20]\n");
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
    if (arg == "--dir") {
      options.dir = value;
    } else if (arg == "--bind") {
      options.bind = value;
    } else if (arg == "--port") {
      options.port = static_cast<uint16_t>(std::atoi(value.c_str()));
    } else if (arg == "--threads") {
      options.threads = std::atoi(value.c_str());
    } else if (arg == "--dedupe-window") {
      options.dedupe_window = std::max<size_t>(1, std::strtoull(value.c_str(), nullptr, 10));
    } else if (arg == "--responder-grace-ms") {
      options.responder_grace = std::chrono::milliseconds(std::atoll(value.c_str()));
    } else if (arg == "--commit-interval-ms") {
      options.offset_commit_interval =
          std::chrono::milliseconds(std::max<long long>(1, std::atoll(value.c_str())));
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
