// meshq-provider-sim: a Dubbo 2 provider of IHelloService.hash(String) with configurable
// latency and capacity, for the mesh load runs and end-to-end tests.
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "meshq/flags.h"
#include "meshq/log.h"
#include "sim_server.h"

int main(int argc, char** argv) {
  using namespace meshq::provider_sim;
  SimOptions opt;
  meshq::FlagSet flags(
      "meshq-provider-sim",
      "Serves com.alibaba.dubbo.performance.demo.provider.IHelloService.hash(String) over Dubbo 2\n"
      "(hessian2). Prints 'listening on ADDR:PORT' once ready, and a counters line on\n"
      "SIGTERM/SIGINT.",
      "--port P [flags]");
  flags.Int<std::uint16_t>("port", &opt.port, 0, 65535, "TCP port (required); 0 picks a free one");
  flags.String("bind", &opt.bind, "address to listen on", "ADDR");
  flags.Double("latency-ms", &opt.latency_ms, 0, 3'600'000, "mean service time of a call");
  flags.Custom(
      "latency-dist", "fixed|exp|normal", "fixed",
      [&opt](std::string_view v) {
        return ParseLatencyDist(v, &opt.dist)
                   ? meshq::Status::OK()
                   : meshq::Status::InvalidArgument("not fixed, exp or normal");
      },
      "how service times are spread");
  flags.Double("latency-stddev-ms", &opt.latency_stddev_ms, -1, 3'600'000,
               "standard deviation of --latency-dist normal; -1: latency-ms / 4");
  flags.Int<std::size_t>("capacity", &opt.capacity, 1, 10'000'000,
                         "calls served at once; more wait their turn");
  flags.Int("threads", &opt.threads, 1, 64, "io threads");
  // Faults on purpose, for the agents' resilience tests (tools/provider-sim/faults.h).
  flags.Int<std::int64_t>("idle-close-ms", &opt.faults.idle_close_ms, 0, 86'400'000,
                          "fault: close a connection that received nothing this long; 0: never");
  bool no_heartbeat_answers = false;
  flags.Bool("no-heartbeat-answers", &no_heartbeat_answers,
             "fault: read heartbeats and never answer them");
  flags.Double("close-percent", &opt.faults.close_percent, 0, 100,
               "fault: chance (%) that a call closes its connection unanswered, losing\n"
               "every call in flight on it");
  flags.Bool("fault-parameters", &opt.faults.by_parameter,
             "fault: hash parameters choose a fault: fault:close, fault:answer-bytes:N,\n"
             "fault:exception-depth:N");
  meshq::DeclareLogLevelFlag(&flags);
  if (auto exit_code = flags.ParseCommandLine(argc, argv)) return *exit_code;
  opt.faults.answer_heartbeats = !no_heartbeat_answers;
  if (!flags.given("port")) {
    std::fputs(
        meshq::UsageError("meshq-provider-sim", "--port is required (0 picks a free port)").c_str(),
        stderr);
    return 2;
  }

  SimServer server(opt);
  meshq::Status st = server.Start();
  if (!st.ok()) {
    meshq::LogEvent(meshq::LogLevel::kError, "provider-sim", "cannot start").Error(st);
    return 1;
  }
  boost::asio::signal_set signals(server.main_context(), SIGINT, SIGTERM);
  signals.async_wait([&server](const boost::system::error_code& ec, int) {
    if (!ec) server.Stop();
  });
  // The stdout lines (listening, counters) are what scripts read; the log is for the operator.
  std::printf("listening on %s:%u\n", opt.bind.c_str(), static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  meshq::LogEvent(meshq::LogLevel::kInfo, "provider-sim", "listening")
      .Field("bind", opt.bind)
      .Field("port", unsigned{server.port()})
      .Field("latency_ms", opt.latency_ms)
      .Field("capacity", uint64_t{opt.capacity});
  server.Run();
  std::printf("provider-sim: %s\n", server.CountersLine().c_str());
  std::fflush(stdout);
  meshq::LogEvent(meshq::LogLevel::kInfo, "provider-sim", "stopped");
  return 0;
}
