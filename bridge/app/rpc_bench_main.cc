// meshq-rpc-bench: the latency and throughput the broker adds to a request-reply call. Runs an
// echo RpcServer and an RpcClient (each on its own io thread) against a running meshq-broker,
// keeps --concurrency calls in flight until --calls are done, and prints the latency
// distribution beside the bare broker round trip (PING) measured the same way. Each call's two
// hops through the broker are timed apart (request: Call to the handler; reply: Respond to the
// caller's callback; one process, one clock), so the responder's own time (--reply-delay-ms and
// its timer's slack) is not counted as the broker's.
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "meshq/bridge/rpc_backend.h"
#include "meshq/flags.h"
#include "meshq/tls.h"

namespace {

using namespace meshq::bridge;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

struct Flags {
  BrokerAddress broker;
  NatsConfig nats;  // --mq-url nats://...: the NATS JetStream backend instead of the broker
  int calls = 20000;
  int concurrency = 16;
  // Callers, each its own RpcClient (connection), sharing --concurrency evenly; and responders,
  // each its own RpcServer (group member) of the one service. 50 clients with one call each and
  // 2 responders is the shape of issue 18's core-NATS baseline (meshq-nats-core-bench).
  int clients = 1;
  int responders = 1;
  // Measure the bare PING first (the floor printed beside the calls); off when the broker's CPU
  // is to be read from outside for the calls alone.
  bool ping = true;
  PutDurability durability = PutDurability::kWritten;
  size_t payload = 50;
  // Start each next call from a fresh io handler instead of from the completion of the last
  // one: calls are then never sent together (like independent callers, e.g. the consumer-agent's
  // HTTP requests); the default starts them from completions, which RpcClient batches.
  bool independent = false;
  // The responder answers after this long (a provider's service time), so the broker's added
  // latency can be measured at the load a mesh with that provider latency puts on it:
  // concurrency / delay calls a second, the added part being a call's time minus the delay.
  int reply_delay_ms = 0;
  // Writes each call's four times (ns, steady clock: sent, handled, responded, answered; 0 when
  // the call failed) to this file, one call a line.
  std::string dump;
  // A soak: calls for this long instead of --calls, with a progress line (the calls done, the
  // period's rate and latency, the broker's STATS) every `progress_s` (bench/soak.sh reads them).
  int duration_s = 0;
  int progress_s = 10;
  // A soak's calls a second at most (0: as many as `concurrency` in flight allow): a steady load
  // below what the machine sustains, so what the store retains does not follow its noise.
  int rate = 0;
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// When each call passed each point, by call index (the first 8 bytes of its payload). Written by
// the client and server io threads, read after the run.
struct HopTimes {
  explicit HopTimes(size_t n) : sent(n), handled(n), responded(n), answered(n) {}
  std::vector<std::atomic<int64_t>> sent, handled, responded, answered;
};

double Pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void Print(const char* what, std::vector<double>& us, double seconds) {
  std::sort(us.begin(), us.end());
  std::printf("%-13s n=%zu rate=%.0f/s p50=%.1fus p90=%.1fus p99=%.1fus p99.9=%.1fus max=%.1fus\n",
              what, us.size(), static_cast<double>(us.size()) / seconds, Pct(us, 0.5), Pct(us, 0.9),
              Pct(us, 0.99), Pct(us, 0.999), us.empty() ? 0 : us.back());
}

// Keeps `concurrency` operations in flight until `total` completed; `start(done)` issues one.
// With `think` > 0 each completion waits that long before the next start (so PINGs come in the
// same bursts as calls whose responder takes that long).
template <typename Start>
double Drive(asio::io_context& io, int total, int concurrency, bool independent, Start start,
             std::vector<double>* latencies_us,
             std::chrono::milliseconds think = std::chrono::milliseconds(0)) {
  std::promise<void> finished;
  int issued = 0, completed = 0;
  int thinking = 0;  // think timers not yet fired: they refer to this frame
  auto finish_if_done = [&] {
    if (completed == total && thinking == 0) finished.set_value();
  };
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
      if (++completed == total) return finish_if_done();
      if (issued == total) return;  // nothing left to start
      if (think.count() > 0) {
        ++thinking;
        auto timer = std::make_shared<asio::steady_timer>(io, think);
        return timer->async_wait([&, timer](const boost::system::error_code&) {
          --thinking;
          issue();
          finish_if_done();
        });
      }
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

// The soak: keeps `concurrency` calls in flight until `duration` has passed, and every `every`
// prints "progress" with key=value fields: seconds since the start, calls completed and failed,
// the period's rate and latency percentiles, then the broker's STATS counters. Per-call state is
// not kept (a soak makes tens of millions of calls). Returns the calls completed.
template <typename Start>
uint64_t Soak(asio::io_context& io, std::chrono::seconds duration, std::chrono::seconds every,
              int concurrency, int rate, bool independent, BrokerClient& stats_client, Start start,
              std::atomic<int>* failed) {
  struct State {
    Clock::time_point begin, end;
    uint64_t completed = 0, period_start_calls = 0;
    int in_flight = 0;
    std::vector<double> period_us;
    Clock::time_point period_start;
    int stats_pending = 0;
    bool done = false;
    uint64_t issued = 0;
    int paced = 0;  // calls waiting for the rate to allow them
    bool pacer_armed = false;
  } st;
  st.begin = st.period_start = Clock::now();
  st.end = st.begin + duration;
  std::promise<void> finished;
  asio::steady_timer ticker(io);
  asio::steady_timer pacer(io);
  auto finish_if_done = [&] {
    if (!st.done && st.in_flight == 0 && st.stats_pending == 0 && !st.pacer_armed &&
        Clock::now() >= st.end) {
      st.done = true;
      ticker.cancel();
      finished.set_value();
    }
  };
  std::function<void()> issue = [&] {
    const auto now = Clock::now();
    if (now >= st.end) return finish_if_done();
    if (rate > 0 && static_cast<double>(st.issued) >=
                        rate * std::chrono::duration<double>(now - st.begin).count()) {
      ++st.paced;
      if (st.pacer_armed) return;
      st.pacer_armed = true;
      pacer.expires_after(std::chrono::milliseconds(1));
      return pacer.async_wait([&](const boost::system::error_code& ec) {
        if (ec) return;
        st.pacer_armed = false;
        const int n = st.paced;
        st.paced = 0;
        for (int i = 0; i < n; ++i) issue();
        finish_if_done();
      });
    }
    ++st.issued;
    ++st.in_flight;
    auto t0 = Clock::now();
    start([&, t0](bool ok) {
      --st.in_flight;
      ++st.completed;
      if (ok) {
        st.period_us.push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
      if (independent) return asio::post(io, [&] { issue(); });
      issue();
    });
  };
  std::function<void()> tick = [&] {
    ticker.expires_after(every);
    ticker.async_wait([&](const boost::system::error_code& ec) {
      if (ec || st.done) return;
      const auto now = Clock::now();
      const double t = std::chrono::duration<double>(now - st.begin).count();
      const double period = std::chrono::duration<double>(now - st.period_start).count();
      std::sort(st.period_us.begin(), st.period_us.end());
      char line[256];
      std::snprintf(line, sizeof(line),
                    "progress t=%.1f calls=%llu failed=%d rate=%.0f p50_us=%.1f p99_us=%.1f", t,
                    static_cast<unsigned long long>(st.completed), failed->load(),
                    static_cast<double>(st.completed - st.period_start_calls) / period,
                    Pct(st.period_us, 0.5), Pct(st.period_us, 0.99));
      st.period_us.clear();
      st.period_start = now;
      st.period_start_calls = st.completed;
      ++st.stats_pending;
      stats_client.Stats(
          [&, text = std::string(line)](const meshq::Status& s, const BrokerStats& stats) {
            --st.stats_pending;
            std::string out = text;
            if (!s.ok()) out += " stats_error=1";
            for (const auto& [name, value] : stats) out += " " + name + "=" + std::to_string(value);
            std::printf("%s\n", out.c_str());
            std::fflush(stdout);
            finish_if_done();
          });
      tick();
    });
  };
  asio::post(io, [&] {
    tick();
    for (int i = 0; i < concurrency; ++i) issue();
  });
  finished.get_future().wait();
  // The handler that finished may still be running on the io thread (set_value wakes us before
  // it returns), and calls posted before it may still be queued: all of them use this frame.
  // One more post on the (single) io thread runs after them.
  std::promise<void> drained;
  asio::post(io, [&] { drained.set_value(); });
  drained.get_future().wait();
  return st.completed;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  int independent = 0;
  meshq::FlagSet flags("meshq-rpc-bench",
                       "The latency and throughput the broker adds to a request-reply call:\n"
                       "echo calls through a running meshq-broker beside its bare round trip.",
                       "--broker HOST:PORT [flags]");
  flags.Custom(
      "broker", "HOST:PORT", "",
      [&f](std::string_view v) {
        return ParseBrokerAddress(v, &f.broker) ? meshq::Status::OK()
                                                : meshq::Status::InvalidArgument("not HOST:PORT");
      },
      "the meshq-broker (this or --mq-url is required)");
  flags.Custom(
      "mq-url", "URL", "",
      [&f](std::string_view v) {
        MqUrl url;
        meshq::Status s = ParseMqUrl(v, &url);
        if (s.ok()) {
          f.broker = url.broker;
          f.nats = url.nats;
        }
        return s;
      },
      "meshq://HOST:PORT (= --broker) or nats://HOST:PORT,...[?replicas=N]: the\n"
      "NATS JetStream backend (no PING floor, no soak)");
  meshq::TlsClientOptions tls;
  meshq::DeclareTlsClientFlags(&flags, &tls, "tls-", "broker");
  flags.Int("calls", &f.calls, 1, 100'000'000, "calls to make");
  flags.Int("concurrency", &f.concurrency, 1, 1'000'000, "calls in flight");
  flags.Int("clients", &f.clients, 1, 1000,
            "callers, each its own connection, sharing --concurrency evenly");
  flags.Int("responders", &f.responders, 1, 100, "responders of the service, each its own member");
  int ping_flag = 1;
  flags.Int("ping", &ping_flag, 0, 1, "1: measure the bare PING round trip first (the floor)");
  flags.Custom(
      "durability", "written|synced|stored", PutDurabilityName(f.durability),
      [&f](std::string_view v) {
        return ParsePutDurability(v, &f.durability)
                   ? meshq::Status::OK()
                   : meshq::Status::InvalidArgument("not written, synced or stored");
      },
      "when the broker acknowledges requests and replies");
  flags.Int<size_t>("payload", &f.payload, 0, 8u << 20, "bytes of each call's payload");
  flags.Int("independent", &independent, 0, 1,
            "1: start each call from a fresh io handler, never batched with others");
  flags.Int("reply-delay-ms", &f.reply_delay_ms, 0, 60'000,
            "the responder answers after this long (a provider's service time)");
  flags.String("dump", &f.dump, "write each call's four times (ns) to this file", "FILE");
  flags.Int("duration", &f.duration_s, 0, 30 * 86400,
            "seconds: a soak, calling until then instead of --calls (--calls PINGs first)");
  flags.Int("rate", &f.rate, 0, 10'000'000, "a soak's calls a second at most (0: no limit)");
  flags.Int("progress", &f.progress_s, 1, 3600,
            "seconds between a soak's progress lines (with the broker's STATS)");
  if (auto exit_code = flags.ParseCommandLine(argc, argv)) return *exit_code;
  f.independent = independent != 0;
  f.ping = ping_flag != 0;
  const bool nats = !f.nats.servers.empty();
  if (f.broker.port == 0 && !nats) {
    std::fputs(meshq::UsageError("meshq-rpc-bench", "--broker HOST:PORT is required").c_str(),
               stderr);
    return 2;
  }
  if (meshq::Status s = SetBrokerTls(tls, &f.broker); !s.ok()) {
    std::fprintf(stderr, "meshq-rpc-bench: %s\n", s.ToString().c_str());
    return 2;
  }
  if (f.concurrency % f.clients != 0) {
    std::fputs(meshq::UsageError("meshq-rpc-bench", "--concurrency must be a multiple of --clients")
                   .c_str(),
               stderr);
    return 2;
  }
  if (!f.ping && f.duration_s > 0) {
    std::fputs(
        meshq::UsageError("meshq-rpc-bench", "a soak reads STATS over its PING client").c_str(),
        stderr);
    return 2;
  }
  if (nats && f.duration_s > 0) {
    std::fputs(meshq::UsageError("meshq-rpc-bench", "a soak needs the broker (its STATS)").c_str(),
               stderr);
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
  so.reply_durability = f.durability;
  so.max_in_flight = static_cast<uint32_t>(std::max(256, f.concurrency));
  const int delay_ms = f.reply_delay_ms;
  // A soak's calls are not timed one by one (it makes far more than --calls).
  const size_t timed_calls = f.duration_s > 0 ? 0 : static_cast<size_t>(f.calls);
  HopTimes hops(timed_calls);
  // The call index a payload carries, or -1 (a payload shorter than 8 bytes carries none).
  auto index_of = [timed_calls](std::string_view payload) -> int64_t {
    uint64_t i = 0;
    if (payload.size() < sizeof(i)) return -1;
    std::memcpy(&i, payload.data(), sizeof(i));
    return i < timed_calls ? static_cast<int64_t>(i) : -1;
  };
  auto handler = [&server_io, &hops, index_of, delay_ms](const RpcCall& call,
                                                         RpcResponder::Respond r) {
    const int64_t i = index_of(call.payload);
    if (i >= 0) hops.handled[i].store(NowNs(), std::memory_order_relaxed);
    if (delay_ms == 0) {
      if (i >= 0) hops.responded[i].store(NowNs(), std::memory_order_relaxed);
      return r(ReplyStatus::kOk, call.payload);
    }
    auto timer =
        std::make_shared<asio::steady_timer>(server_io, std::chrono::milliseconds(delay_ms));
    timer->async_wait([timer, &hops, i, r = std::move(r),
                       payload = call.payload](const boost::system::error_code&) mutable {
      if (i >= 0) hops.responded[i].store(NowNs(), std::memory_order_relaxed);
      r(ReplyStatus::kOk, std::move(payload));
    });
  };
  std::vector<std::shared_ptr<RpcResponder>> servers;
  for (int i = 0; i < f.responders; ++i)
    servers.push_back(CreateRpcResponder(server_io, so, f.nats, handler));
  asio::post(server_io, [&] {
    for (auto& server : servers) server->Start();
  });
  RpcClientOptions co;
  co.broker = f.broker;
  co.request_durability = f.durability;
  std::vector<std::shared_ptr<RpcRequester>> clients;
  // The clients not at their share of calls in flight, one entry per free slot; calls leave from
  // the front, so each client keeps --concurrency / --clients in flight (client io thread only).
  std::deque<size_t> free_slots;
  for (int i = 0; i < f.clients; ++i) {
    co.client_id = service + "-client" + (i == 0 ? "" : "-" + std::to_string(i));
    clients.push_back(CreateRpcRequester(client_io, co, f.nats));
  }
  for (int k = 0; k < f.concurrency / f.clients; ++k) {
    for (size_t i = 0; i < clients.size(); ++i) free_slots.push_back(i);
  }
  // Takes a free slot's client for a call; the call's completion gives the slot back.
  auto take_slot = [&free_slots] {
    const size_t i = free_slots.front();
    free_slots.pop_front();
    return i;
  };
  auto ping = nats || !f.ping ? nullptr : BrokerClient::Create(client_io, f.broker);
  asio::post(client_io, [&] {
    for (auto& client : clients) client->Start();
    if (ping) ping->Start();
  });
  // Connect; the server joins the group (for NATS: the streams and its consumer are set up).
  std::this_thread::sleep_for(std::chrono::milliseconds(nats ? 1500 : 300));

  std::vector<double> ping_us;
  double ping_s = 1;
  if (ping)
    ping_s = Drive(
        client_io, f.calls, f.concurrency, f.independent,
        [&](std::function<void(bool)> done) {
          ping->Ping([done](const meshq::Status& s) { done(s.ok()); });
        },
        &ping_us);
  // The machine's own floor for a call's two hops at the calls' cadence: two PINGs one after
  // the other (four one-way transfers through the broker process, like a request's and a
  // reply's way through it, with nothing stored), in bursts of `concurrency` every reply delay,
  // each burst waking idle CPUs as the calls' bursts do.
  std::vector<double> paced_ping_us;
  double paced_ping_s = 0;
  if (delay_ms > 0 && ping) {
    paced_ping_s = Drive(
        client_io, f.calls, f.concurrency, f.independent,
        [&](std::function<void(bool)> done) {
          ping->Ping([&, done](const meshq::Status& s) {
            if (!s.ok()) return done(false);
            ping->Ping([done](const meshq::Status& s2) { done(s2.ok()); });
          });
        },
        &paced_ping_us, std::chrono::milliseconds(delay_ms));
  }
  std::string payload(std::max(f.payload, sizeof(uint64_t)), 'p');
  std::atomic<int> failed{0};
  std::vector<double> call_us;
  CallOptions options;
  options.timeout = std::chrono::seconds(10);
  uint64_t next_index = 0;
  if (f.duration_s > 0) {
    std::printf("soak: broker %s:%u, %d s, %d in flight, %zu-byte payload, durability=%s\n",
                f.broker.host.c_str(), f.broker.port, f.duration_s, f.concurrency, f.payload,
                PutDurabilityName(f.durability));
    Print("broker PING", ping_us, ping_s);
    std::fflush(stdout);
    const uint64_t done = Soak(
        client_io, std::chrono::seconds(f.duration_s), std::chrono::seconds(f.progress_s),
        f.concurrency, f.rate, f.independent, *ping,
        [&](std::function<void(bool)> finished) {
          const uint64_t i = next_index++;
          std::memcpy(payload.data(), &i, sizeof(i));
          const size_t slot = take_slot();
          clients[slot]->Call(service, payload, options, [&, finished, slot](CallResult r) {
            free_slots.push_back(slot);
            if (r.error != CallError::kNone) ++failed;
            finished(r.error == CallError::kNone);
          });
        },
        &failed);
    std::printf("soak done: calls=%llu failed=%d\n", static_cast<unsigned long long>(done),
                failed.load());
  } else {
    double call_s = Drive(
        client_io, f.calls, f.concurrency, f.independent,
        [&](std::function<void(bool)> done) {
          const uint64_t i = next_index++;
          std::memcpy(payload.data(), &i, sizeof(i));
          hops.sent[i].store(NowNs(), std::memory_order_relaxed);
          const size_t slot = take_slot();
          clients[slot]->Call(service, payload, options, [&, done, i, slot](CallResult r) {
            hops.answered[i].store(NowNs(), std::memory_order_relaxed);
            free_slots.push_back(slot);
            if (r.error != CallError::kNone) ++failed;
            done(r.error == CallError::kNone);
          });
        },
        &call_us);
    if (!f.dump.empty()) {  // raw times, for analysing single bursts
      if (FILE* out = std::fopen(f.dump.c_str(), "w")) {
        for (size_t i = 0; i < hops.sent.size(); ++i) {
          std::fprintf(out, "%ld %ld %ld %ld\n", static_cast<long>(hops.sent[i].load()),
                       static_cast<long>(hops.handled[i].load()),
                       static_cast<long>(hops.responded[i].load()),
                       static_cast<long>(hops.answered[i].load()));
        }
        std::fclose(out);
      } else {
        std::fprintf(stderr, "meshq-rpc-bench: cannot write %s\n", f.dump.c_str());
      }
    }
    std::vector<double> request_us, reply_us, both_us;
    for (size_t i = 0; i < hops.sent.size(); ++i) {
      const int64_t t[4] = {hops.sent[i].load(), hops.handled[i].load(), hops.responded[i].load(),
                            hops.answered[i].load()};
      if (t[0] == 0 || t[1] == 0 || t[2] == 0 || t[3] == 0) continue;  // failed, or a replay
      request_us.push_back(static_cast<double>(t[1] - t[0]) / 1e3);
      reply_us.push_back(static_cast<double>(t[3] - t[2]) / 1e3);
      both_us.push_back(request_us.back() + reply_us.back());
    }
    if (nats) {
      std::printf(
          "nats %s (%zu servers, replicas=%d), %d calls, %d in flight, %d clients, %d "
          "responders, %zu-byte payload, independent=%d, reply delay %d ms\n",
          f.nats.servers[0].c_str(), f.nats.servers.size(), f.nats.replicas, f.calls, f.concurrency,
          f.clients, f.responders, f.payload, f.independent, f.reply_delay_ms);
    } else {
      std::printf(
          "broker %s:%u, %d calls, %d in flight, %d clients, %d responders, %zu-byte payload, "
          "durability=%s, independent=%d, reply delay %d ms, tls=%s\n",
          f.broker.host.c_str(), f.broker.port, f.calls, f.concurrency, f.clients, f.responders,
          f.payload, PutDurabilityName(f.durability), f.independent, f.reply_delay_ms,
          f.broker.tls ? "on" : "off");
      if (ping) Print("broker PING", ping_us, ping_s);
      if (ping && delay_ms > 0) Print("paced 2xPING", paced_ping_us, paced_ping_s);
    }
    Print("RPC call", call_us, call_s);
    Print("request hop", request_us, call_s);
    Print("reply hop", reply_us, call_s);
    Print("both hops", both_us, call_s);
    std::printf("failed calls: %d\n", failed.load());
  }

  asio::post(client_io, [&] {
    for (auto& client : clients) client->Shutdown();
    if (ping) ping->Close();
  });
  asio::post(server_io, [&] {
    for (auto& server : servers) server->Shutdown();
  });
  client_guard.reset();
  server_guard.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  client_io.stop();
  server_io.stop();
  client_thread.join();
  server_thread.join();
  return failed.load() == 0 ? 0 : 1;
}
