// meshq-nats-core-bench: request-reply over core NATS (nothing stored), the baseline issue 18 sets
// meshq-broker against. Mirrors meshq-rpc-bench's shapes: --clients connections each keeping
// --concurrency / --clients requests in flight, --responders connections in one queue group
// answering each request on its reply subject. A client's next request leaves from the callback
// that took the last reply (nats.c's delivery thread of its inbox subscription), so a client with
// one call in flight is an unbatched caller. Prints the call latency distribution in
// meshq-rpc-bench's format; the servers' CPU is measured from outside (bench/rpc_core_nats.sh).
#include <nats/nats.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "meshq/flags.h"

namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Flags {
  std::string url = "nats://127.0.0.1:4222";
  int calls = 20000;
  int concurrency = 16;
  int clients = 1;
  int responders = 1;
  size_t payload = 50;
  int timeout_s = 60;
};

// What every client shares: the calls left to start and the completions, and the end signal.
struct Run {
  int total = 0;
  std::atomic<int> issued{0};
  std::atomic<int> completed{0};
  std::atomic<int> failed{0};
  std::mutex mu;
  std::condition_variable done;
  std::string subject;
};

struct Client {
  Run* run = nullptr;
  natsConnection* nc = nullptr;
  natsSubscription* sub = nullptr;
  std::string inbox;
  std::string payload;         // the request; its first 8 bytes carry the send time
  std::vector<double> lat_us;  // written only by this client's delivery thread, read after the run
};

struct Responder {
  natsConnection* nc = nullptr;
  natsSubscription* sub = nullptr;
};

void Complete(Run* run) {
  if (run->completed.fetch_add(1) + 1 == run->total) {
    std::lock_guard<std::mutex> lock(run->mu);
    run->done.notify_all();
  }
}

// Starts one more call from `c` if any is left: false when none is.
bool Issue(Client* c) {
  if (c->run->issued.fetch_add(1, std::memory_order_relaxed) >= c->run->total) return false;
  const int64_t t = NowNs();
  std::memcpy(c->payload.data(), &t, sizeof(t));
  natsStatus s =
      natsConnection_PublishRequest(c->nc, c->run->subject.c_str(), c->inbox.c_str(),
                                    c->payload.data(), static_cast<int>(c->payload.size()));
  if (s != NATS_OK) {
    c->run->failed.fetch_add(1, std::memory_order_relaxed);
    Complete(c->run);
  }
  return true;
}

void OnReply(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* c = static_cast<Client*>(closure);
  int64_t sent = 0;
  if (natsMsg_GetDataLength(msg) >= static_cast<int>(sizeof(sent))) {
    std::memcpy(&sent, natsMsg_GetData(msg), sizeof(sent));
    c->lat_us.push_back(static_cast<double>(NowNs() - sent) / 1e3);
  } else {
    c->run->failed.fetch_add(1, std::memory_order_relaxed);
  }
  natsMsg_Destroy(msg);
  Issue(c);
  Complete(c->run);
}

void OnRequest(natsConnection* nc, natsSubscription*, natsMsg* msg, void*) {
  if (const char* reply = natsMsg_GetReply(msg)) {
    natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
  }
  natsMsg_Destroy(msg);
}

double Pct(const std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

natsStatus Connect(const std::string& url, natsConnection** nc) {
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, url.c_str());
  // Each publish goes out at once instead of waiting for nats.c's flusher: the low-latency
  // setting a request-reply client would choose, and the one meshq's NATS backend uses.
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, true);
  if (s == NATS_OK) s = natsConnection_Connect(nc, opts);
  natsOptions_Destroy(opts);
  return s;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  meshq::FlagSet flags("meshq-nats-core-bench",
                       "Request-reply calls over core NATS (nothing stored): the baseline\n"
                       "meshq-rpc-bench's figures are compared with.",
                       "[flags]");
  flags.String("url", &f.url, "the NATS server", "nats://HOST:PORT");
  flags.Int("calls", &f.calls, 1, 100'000'000, "calls to make");
  flags.Int("concurrency", &f.concurrency, 1, 1'000'000,
            "calls in flight in all (a multiple of --clients)");
  flags.Int("clients", &f.clients, 1, 1000, "client connections, each its own caller");
  flags.Int("responders", &f.responders, 1, 100, "responder connections (one queue group)");
  flags.Int<size_t>("payload", &f.payload, 8, 1u << 20, "bytes of each request (echoed back)");
  flags.Int("timeout", &f.timeout_s, 1, 3600, "seconds the run may take before it fails");
  if (auto exit_code = flags.ParseCommandLine(argc, argv)) return *exit_code;
  if (f.concurrency % f.clients != 0) {
    std::fputs(
        meshq::UsageError("meshq-nats-core-bench", "--concurrency must be a multiple of --clients")
            .c_str(),
        stderr);
    return 2;
  }

  Run run;
  run.total = f.calls;
  run.subject = "meshq.bench.echo." + std::to_string(::getpid());
  std::vector<Responder> responders(static_cast<size_t>(f.responders));
  std::vector<std::unique_ptr<Client>> clients;
  auto fail = [](const char* what, natsStatus s) {
    std::fprintf(stderr, "meshq-nats-core-bench: %s: %s\n", what, natsStatus_GetText(s));
    return 1;
  };
  for (Responder& r : responders) {
    if (natsStatus s = Connect(f.url, &r.nc); s != NATS_OK) return fail("connect", s);
    natsStatus s = natsConnection_QueueSubscribe(&r.sub, r.nc, run.subject.c_str(), "responders",
                                                 OnRequest, nullptr);
    // A burst must not be dropped as a slow consumer's backlog: no pending limit.
    if (s == NATS_OK) s = natsSubscription_SetPendingLimits(r.sub, -1, -1);
    if (s == NATS_OK) s = natsConnection_Flush(r.nc);
    if (s != NATS_OK) return fail("responder subscribe", s);
  }
  for (int i = 0; i < f.clients; ++i) {
    auto c = std::make_unique<Client>();
    c->run = &run;
    c->inbox = "_INBOX.meshq-bench." + std::to_string(::getpid()) + "." + std::to_string(i);
    c->payload.assign(f.payload, 'p');
    c->lat_us.reserve(static_cast<size_t>(f.calls / f.clients + 1));
    if (natsStatus s = Connect(f.url, &c->nc); s != NATS_OK) return fail("connect", s);
    natsStatus s = natsConnection_Subscribe(&c->sub, c->nc, c->inbox.c_str(), OnReply, c.get());
    if (s == NATS_OK) s = natsSubscription_SetPendingLimits(c->sub, -1, -1);
    if (s == NATS_OK) s = natsConnection_Flush(c->nc);
    if (s != NATS_OK) return fail("client subscribe", s);
    clients.push_back(std::move(c));
  }

  const double cpu0 = CpuSeconds();
  const auto begin = Clock::now();
  const int per_client = f.concurrency / f.clients;
  for (int k = 0; k < per_client; ++k) {
    for (auto& c : clients) Issue(c.get());
  }
  bool finished;
  {
    std::unique_lock<std::mutex> lock(run.mu);
    finished = run.done.wait_for(lock, std::chrono::seconds(f.timeout_s),
                                 [&] { return run.completed.load() >= run.total; });
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  const double cpu = CpuSeconds() - cpu0;

  for (auto& c : clients) {
    natsSubscription_Unsubscribe(c->sub);
    natsConnection_Close(c->nc);
  }
  for (Responder& r : responders) {
    natsSubscription_Unsubscribe(r.sub);
    natsConnection_Close(r.nc);
  }
  // The delivery threads have stopped: the latency vectors are ours now.
  std::vector<double> us;
  for (auto& c : clients) us.insert(us.end(), c->lat_us.begin(), c->lat_us.end());
  for (auto& c : clients) {
    natsSubscription_Destroy(c->sub);
    natsConnection_Destroy(c->nc);
  }
  for (Responder& r : responders) {
    natsSubscription_Destroy(r.sub);
    natsConnection_Destroy(r.nc);
  }
  nats_Close();

  std::sort(us.begin(), us.end());
  const int lost = run.total - run.completed.load();
  std::printf("core nats %s, %d calls, %d in flight, %d clients, %d responders, %zu-byte payload\n",
              f.url.c_str(), f.calls, f.concurrency, f.clients, f.responders, f.payload);
  std::printf("%-13s n=%zu rate=%.0f/s p50=%.1fus p90=%.1fus p99=%.1fus p99.9=%.1fus max=%.1fus\n",
              "RPC call", us.size(), static_cast<double>(us.size()) / seconds, Pct(us, 0.5),
              Pct(us, 0.9), Pct(us, 0.99), Pct(us, 0.999), us.empty() ? 0 : us.back());
  std::printf("bench process CPU: %.3f s (%.2f us a call)\n", cpu,
              us.empty() ? 0 : cpu * 1e6 / static_cast<double>(us.size()));
  std::printf("failed calls: %d\n", run.failed.load() + (finished ? 0 : lost));
  return finished && run.failed.load() == 0 ? 0 : 1;
}
