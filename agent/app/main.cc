// meshq-agent: the mesh sidecar. --role consumer serves HTTP to applications; --role provider
// fronts a local Dubbo provider. --mode selects how the two reach each other (direct TCP today;
// mq plugs in through the same ConsumerTransport / ProviderTransport interfaces).
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "meshq/agent/agent_listener.h"
#include "meshq/agent/consumer_agent.h"
#include "meshq/agent/direct_transport.h"
#include "meshq/agent/provider_agent.h"
#if MESHQ_AGENT_HAS_MQ
#include <unistd.h>

#include "meshq/agent/mq_transport.h"
#include "meshq/bridge/hop_stats.h"
#endif

namespace {

using meshq::Status;
using namespace meshq::agent;

constexpr const char* kUsage =
    "usage: meshq-agent --role consumer|provider --mode direct [options]\n"
    "  --listen HOST:PORT        where to listen (default 127.0.0.1:0; the port is printed)\n"
    "  --etcd URL                etcd client URL (default http://127.0.0.1:2379)\n"
    "  --service-prefix P        registry prefix (default /meshq/services/)\n"
    "  --threads N               I/O threads, one event loop each (default 1)\n"
    "consumer:\n"
    "  --timeout-ms MS           deadline of each call (default 5000)\n"
    "provider:\n"
    "  --provider HOST:PORT      the local Dubbo provider (default 127.0.0.1:20880)\n"
    "  --weight W                declared capacity, relative (default 1)\n"
    "  --service NAME            interface served (default ...demo.provider.IHelloService)\n"
    "  --dubbo-connections N     connections to the provider per thread (default 1)\n"
    "  --lease-ttl S             registry lease TTL in seconds (default 3)\n"
    "mq mode (--mode mq):\n"
    "  --broker HOST:PORT        the meshq-broker (default $MESHQ_BROKER, else 127.0.0.1:9400)\n"
    "  --mq-durability D         when the broker acknowledges calls: written (default; survives\n"
    "                            a broker kill -9), synced (also a machine crash), stored\n"
    "  --client-id ID            consumer reply-queue prefix (default consumer-<pid>)\n"
    "  provider: calls taken from the broker at once = --weight (its declared capacity)\n"
    "signals: SIGTERM/SIGINT stop; SIGUSR1 prints the MQ hop latencies since the last SIGUSR1\n"
    "  (lines \"hop request|reply count=N p50_us=... buckets=...\") to stdout\n";

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr, "meshq-agent: %s\n%s", why.c_str(), kUsage);
  std::exit(2);
}

int IntFlag(const std::map<std::string, std::string>& flags, const std::string& name, int def) {
  auto it = flags.find(name);
  if (it == flags.end()) return def;
  char* end = nullptr;
  const long v = std::strtol(it->second.c_str(), &end, 10);
  if (end == it->second.c_str() || *end != '\0' || v < 0 || v > 1'000'000) {
    Usage("bad value for --" + name + ": " + it->second);
  }
  return static_cast<int>(v);
}

std::string Flag(const std::map<std::string, std::string>& flags, const std::string& name,
                 const std::string& def) {
  auto it = flags.find(name);
  return it == flags.end() ? def : it->second;
}

// Blocks SIGTERM/SIGINT (and SIGUSR1, the stats request) in every thread (call before any thread
// starts), so only WaitForStop receives them.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

// Prints the MQ hop stats since the previous request (see meshq/bridge/hop_stats.h) to stdout;
// the mesh load run asks before and after each level.
void PrintHopStats() {
#if MESHQ_AGENT_HAS_MQ
  auto& stats = meshq::bridge::HopStats();
  std::string out = meshq::bridge::FormatHop("request", stats.request.Take()) + "\n" +
                    meshq::bridge::FormatHop("reply", stats.reply.Take()) + "\n";
  std::fputs(out.c_str(), stdout);
#else
  std::fputs("hop stats: MQ mode is not built in\n", stdout);
#endif
  std::fflush(stdout);
}

// Waits for SIGTERM or SIGINT, answering SIGUSR1 meanwhile.
int WaitForStop(const sigset_t& set) {
  for (;;) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig != SIGUSR1) return sig;
    PrintHopStats();
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg.rfind("--", 0) != 0) Usage("unexpected argument: " + arg);
    const size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      flags[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
    } else {
      if (i + 1 >= argc) Usage("missing value for " + arg);
      flags[arg.substr(2)] = argv[++i];
    }
  }
  static const char* kKnown[] = {
      "role",       "mode",          "listen",   "etcd",    "service-prefix",    "threads",
      "timeout-ms", "provider",      "weight",   "service", "dubbo-connections", "lease-ttl",
      "broker",     "mq-durability", "client-id"};
  for (const auto& [name, value] : flags) {
    bool known = false;
    for (const char* k : kKnown) known = known || name == k;
    if (!known) Usage("unknown flag --" + name);
  }
  const std::string role = Flag(flags, "role", "");
  const std::string mode = Flag(flags, "mode", "direct");
  if (role != "consumer" && role != "provider") Usage("--role must be consumer or provider");
#if MESHQ_AGENT_HAS_MQ
  const bool mq = mode == "mq";
  MqOptions mq_options;
  if (mq) {
    const char* env = std::getenv("MESHQ_BROKER");
    if (!meshq::bridge::ParseBrokerAddress(Flag(flags, "broker", env ? env : "127.0.0.1:9400"),
                                           &mq_options.broker)) {
      Usage("bad --broker address");
    }
    if (!meshq::bridge::ParsePutDurability(Flag(flags, "mq-durability", "written"),
                                           &mq_options.durability)) {
      Usage("bad --mq-durability (stored, written or synced)");
    }
    mq_options.client_id_prefix = Flag(flags, "client-id", "consumer-" + std::to_string(getpid()));
  }
#else
  const bool mq = false;
#endif
  if (mode != "direct" && !mq) {
    // --mode mq plugs in here: a ConsumerTransportFactory / ProviderTransportFactory over the
    // bridge's RPC layer; nothing else in the agent changes.
    Usage("--mode " + mode + " is not available in this build (supported: direct)");
  }
  const std::string listen = Flag(flags, "listen", "127.0.0.1:0");
  const std::string etcd = Flag(flags, "etcd", "http://127.0.0.1:2379");
  const std::string prefix = Flag(flags, "service-prefix", "/meshq/services/");
  const int threads = std::max(1, IntFlag(flags, "threads", 1));
  const sigset_t stop_signals = BlockStopSignals();

  if (role == "consumer") {
    ConsumerAgent::Options options;
    options.listen = listen;
    options.threads = threads;
    options.etcd = etcd;
    options.service_prefix = prefix;
    options.http.call_timeout = std::chrono::milliseconds(IntFlag(flags, "timeout-ms", 5000));
    ConsumerTransportFactory factory = DirectTransport::Factory(DirectTransport::Options{});
#if MESHQ_AGENT_HAS_MQ
    if (mq) factory = MqConsumerTransport::Factory(mq_options);
#endif
    ConsumerAgent agent(options, factory);
    Status s = agent.Start();
    if (!s.ok()) {
      std::fprintf(stderr, "meshq-agent: %s\n", s.ToString().c_str());
      return 1;
    }
    std::printf("listening on %s:%u\n", listen.substr(0, listen.rfind(':')).c_str(), agent.port());
    std::fflush(stdout);
    WaitForStop(stop_signals);
    agent.Stop();
    return 0;
  }

  ProviderAgent::Options options;
  options.threads = threads;
  options.etcd = etcd;
  options.service_prefix = prefix;
  options.service = Flag(flags, "service", options.service);
  options.weight = std::max(1, IntFlag(flags, "weight", 1));
  options.lease_ttl_seconds = std::max(1, IntFlag(flags, "lease-ttl", 3));
  options.dubbo.connections = std::max(1, IntFlag(flags, "dubbo-connections", 1));
  if (!SplitHostPort(Flag(flags, "provider", "127.0.0.1:20880"), &options.dubbo.host,
                     &options.dubbo.port)) {
    Usage("bad --provider address");
  }
  ProviderTransportFactory factory = AgentListener::Factory(listen);
#if MESHQ_AGENT_HAS_MQ
  if (mq) {
    if (flags.count("weight")) {
      mq_options.max_in_flight = static_cast<uint32_t>((options.weight + threads - 1) / threads);
    }
    factory = MqProviderTransport::Factory(mq_options, options.service,
                                           Flag(flags, "provider", "127.0.0.1:20880"));
  }
#endif
  ProviderAgent agent(options, factory);
  Status s = agent.Start();
  if (!s.ok()) {
    std::fprintf(stderr, "meshq-agent: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("listening on %s\n", agent.address().c_str());
  std::fflush(stdout);
  WaitForStop(stop_signals);
  agent.Stop();
  return 0;
}
