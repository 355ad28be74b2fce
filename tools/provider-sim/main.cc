// meshq-provider-sim: a Dubbo 2 provider of IHelloService.hash(String) with configurable
// latency and capacity, for the mesh load runs and end-to-end tests.
#include <boost/asio/signal_set.hpp>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "sim_server.h"

namespace {

constexpr const char* kUsage =
    "usage: meshq-provider-sim --port P [--bind 127.0.0.1] [--latency-ms 50]\n"
    "         [--latency-dist fixed|exp|normal] [--latency-stddev-ms S] [--capacity 200]\n"
    "         [--threads 1]\n"
    "Serves com.alibaba.dubbo.performance.demo.provider.IHelloService.hash(String) over Dubbo 2\n"
    "(hessian2). Prints 'listening on ADDR:PORT' once ready (--port 0 picks a free port), and a\n"
    "counters line on SIGTERM/SIGINT.\n";

template <typename T>
bool ParseNumber(std::string_view s, T* v) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

int Usage(const char* error) {
  if (error) std::fprintf(stderr, "meshq-provider-sim: %s\n", error);
  std::fputs(kUsage, error ? stderr : stdout);
  return error ? 2 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace meshq::provider_sim;
  SimOptions opt;
  bool have_port = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") return Usage(nullptr);
    if (i + 1 >= argc) return Usage(("missing value for " + std::string(flag)).c_str());
    const std::string_view value = argv[++i];
    bool ok = true;
    if (flag == "--port") {
      ok = ParseNumber(value, &opt.port);
      have_port = true;
    } else if (flag == "--bind") {
      opt.bind = value;
    } else if (flag == "--latency-ms") {
      ok = ParseNumber(value, &opt.latency_ms) && opt.latency_ms >= 0;
    } else if (flag == "--latency-stddev-ms") {
      ok = ParseNumber(value, &opt.latency_stddev_ms) && opt.latency_stddev_ms >= 0;
    } else if (flag == "--latency-dist") {
      ok = ParseLatencyDist(value, &opt.dist);
    } else if (flag == "--capacity") {
      ok = ParseNumber(value, &opt.capacity) && opt.capacity > 0;
    } else if (flag == "--threads") {
      ok = ParseNumber(value, &opt.threads) && opt.threads > 0 && opt.threads <= 64;
    } else {
      return Usage(("unknown flag " + std::string(flag)).c_str());
    }
    if (!ok) {
      return Usage(("bad value '" + std::string(value) + "' for " + std::string(flag)).c_str());
    }
  }
  if (!have_port) return Usage("--port is required (0 picks a free port)");

  SimServer server(opt);
  meshq::Status st = server.Start();
  if (!st.ok()) {
    std::fprintf(stderr, "meshq-provider-sim: %s\n", st.ToString().c_str());
    return 1;
  }
  boost::asio::signal_set signals(server.main_context(), SIGINT, SIGTERM);
  signals.async_wait([&server](const boost::system::error_code& ec, int) {
    if (!ec) server.Stop();
  });
  std::printf("listening on %s:%u\n", opt.bind.c_str(), static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  server.Run();
  std::printf("provider-sim: %s\n", server.CountersLine().c_str());
  std::fflush(stdout);
  return 0;
}
