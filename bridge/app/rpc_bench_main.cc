// meshq-rpc-bench: the latency and throughput the broker adds to a request-reply call. Runs an
// echo RpcServer and an RpcClient (each on its own io thread) against a running meshq-broker,
// keeps --concurrency calls in flight until --calls are done, and prints the latency
// distribution beside the bare broker round trip (PING) measured the same way.
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "meshq/bridge/rpc_client.h"
#include "meshq/bridge/rpc_server.h"

namespace {

using namespace meshq::bridge;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

struct Flags {
  BrokerAddress broker;
  int calls = 20000;
  int concurrency = 16;
  bool flush = true;
  size_t payload = 50;
  // Start each next call from a fresh io handler instead of from the completion of the last
  // one: calls are then never sent together (like independent callers, e.g. the consumer-agent's
  // HTTP requests); the default starts them from completions, which RpcClient batches.
  bool independent = false;
  // The responder answers after this long (a provider's service time), so the broker's added
  // latency can be measured at the load a mesh with that provider latency puts on it:
  // concurrency / delay calls a second, the added part being a call's time minus the delay.
  int reply_delay_ms = 0;
};

double Pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void Print(const char* what, std::vector<double>& us, double seconds) {
  std::sort(us.begin(), us.end());
  std::printf("%-14s n=%zu rate=%.0f/s p50=%.1fus p90=%.1fus p99=%.1fus p99.9=%.1fus max=%.1fus\n",
              what, us.size(), static_cast<double>(us.size()) / seconds, Pct(us, 0.5), Pct(us, 0.9),
              Pct(us, 0.99), Pct(us, 0.999), us.empty() ? 0 : us.back());
}

// Keeps `concurrency` operations in flight until `total` completed; `start(done)` issues one.
template <typename Start>
double Drive(asio::io_context& io, int total, int concurrency, bool independent, Start start,
             std::vector<double>* latencies_us) {
  std::promise<void> finished;
  int issued = 0, completed = 0;
  auto begin = Clock::now();
  std::function<void()> issue = [&] {
    if (issued == total) return;
    ++issued;
    auto t0 = Clock::now();
    start([&, t0](bool ok) {
      if (ok) {
        latencies_us->push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
      if (++completed == total) return finished.set_value();
      if (independent) return asio::post(io, [&] { issue(); });
      issue();
    });
  };
  asio::post(io, [&] {
    for (int i = 0; i < concurrency; ++i) issue();
  });
  finished.get_future().wait();
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  // Starts posted before the last completion still refer to this frame: let them run first.
  std::promise<void> drained;
  asio::post(io, [&] { drained.set_value(); });
  drained.get_future().wait();
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--broker" && ParseBrokerAddress(v, &f.broker)) continue;
    if (a == "--calls")
      f.calls = std::max(1, std::atoi(v.c_str()));
    else if (a == "--concurrency")
      f.concurrency = std::max(1, std::atoi(v.c_str()));
    else if (a == "--flush")
      f.flush = v != "0";
    else if (a == "--payload")
      f.payload = static_cast<size_t>(std::atoll(v.c_str()));
    else if (a == "--independent")
      f.independent = v != "0";
    else if (a == "--reply-delay-ms")
      f.reply_delay_ms = std::clamp(std::atoi(v.c_str()), 0, 60000);
    else {
      std::fprintf(stderr,
                   "usage: meshq-rpc-bench --broker HOST:PORT [--calls 20000] [--concurrency 16]"
                   " [--flush 1] [--payload 50] [--independent 0]"
                   " [--reply-delay-ms 0]\n");
      return 2;
    }
  }
  if (f.broker.port == 0) {
    std::fprintf(stderr, "meshq-rpc-bench: --broker HOST:PORT is required\n");
    return 2;
  }
  asio::io_context client_io, server_io;
  auto client_guard = asio::make_work_guard(client_io);
  auto server_guard = asio::make_work_guard(server_io);
  std::thread client_thread([&] { client_io.run(); });
  std::thread server_thread([&] { server_io.run(); });

  const std::string service = "bench-echo-" + std::to_string(::getpid());
  RpcServerOptions so;
  so.broker = f.broker;
  so.service = service;
  so.flush_replies = f.flush;
  so.max_in_flight = static_cast<uint32_t>(std::max(256, f.concurrency));
  const int delay_ms = f.reply_delay_ms;
  auto server = RpcServer::Create(
      server_io, so, [&server_io, delay_ms](const RpcCall& call, RpcServer::Respond r) {
        if (delay_ms == 0) return r(ReplyStatus::kOk, call.payload);
        auto timer =
            std::make_shared<asio::steady_timer>(server_io, std::chrono::milliseconds(delay_ms));
        timer->async_wait([timer, r = std::move(r),
                           payload = call.payload](const boost::system::error_code&) mutable {
          r(ReplyStatus::kOk, std::move(payload));
        });
      });
  asio::post(server_io, [&] { server->Start(); });
  RpcClientOptions co;
  co.broker = f.broker;
  co.client_id = service + "-client";
  co.flush_requests = f.flush;
  auto client = RpcClient::Create(client_io, co);
  auto ping = BrokerClient::Create(client_io, f.broker);
  asio::post(client_io, [&] {
    client->Start();
    ping->Start();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // connect; server joins the group

  std::vector<double> ping_us;
  double ping_s = Drive(
      client_io, f.calls, f.concurrency, f.independent,
      [&](std::function<void(bool)> done) {
        ping->Ping([done](const meshq::Status& s) { done(s.ok()); });
      },
      &ping_us);
  const std::string payload(f.payload, 'p');
  std::atomic<int> failed{0};
  std::vector<double> call_us;
  CallOptions options;
  options.timeout = std::chrono::seconds(10);
  double call_s = Drive(
      client_io, f.calls, f.concurrency, f.independent,
      [&](std::function<void(bool)> done) {
        client->Call(service, payload, options, [&, done](CallResult r) {
          if (r.error != CallError::kNone) ++failed;
          done(r.error == CallError::kNone);
        });
      },
      &call_us);
  std::printf(
      "broker %s:%u, %d calls, %d in flight, %zu-byte payload, flush=%d, independent=%d, "
      "reply delay %d ms\n",
      f.broker.host.c_str(), f.broker.port, f.calls, f.concurrency, f.payload, f.flush,
      f.independent, f.reply_delay_ms);
  Print("broker PING", ping_us, ping_s);
  Print("RPC call", call_us, call_s);
  std::printf("failed calls: %d\n", failed.load());

  asio::post(client_io, [&] {
    client->Shutdown();
    ping->Close();
  });
  asio::post(server_io, [&] { server->Shutdown(); });
  client_guard.reset();
  server_guard.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  client_io.stop();
  server_io.stop();
  client_thread.join();
  server_thread.join();
  return failed.load() == 0 ? 0 : 1;
}
