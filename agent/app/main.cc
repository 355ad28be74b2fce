// meshq-agent: the mesh sidecar. --role consumer serves HTTP to applications; --role provider
// fronts a local Dubbo provider. --mode selects how the two reach each other: direct (the agents'
// own TCP protocol) or mq (through a meshq-broker), both behind the same ConsumerTransport /
// ProviderTransport interfaces.
#include <signal.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "meshq/agent/agent_listener.h"
#include "meshq/agent/agent_metrics.h"
#include "meshq/agent/consumer_agent.h"
#include "meshq/agent/direct_transport.h"
#include "meshq/agent/provider_agent.h"
#include "meshq/flags.h"
#include "meshq/log.h"
#include "meshq/metrics_server.h"
#include "meshq/plaintext_bind.h"
#include "meshq/tls.h"
#if MESHQ_AGENT_HAS_MQ
#include "meshq/agent/mq_transport.h"
#include "meshq/bridge/hop_stats.h"
#endif

namespace {

using meshq::Status;
using namespace meshq::agent;

[[noreturn]] void Fail(const std::string& why) {
  std::fputs(meshq::UsageError("meshq-agent", why).c_str(), stderr);
  std::exit(2);
}

// A setup the flags name but that cannot be used (a certificate that does not load, a password
// file that cannot be read): exit status 2 as for bad flags, with the reason alone.
void FailUnless(const Status& s) {
  if (s.ok()) return;
  std::fprintf(stderr, "meshq-agent: %s\n", s.ToString().c_str());
  std::exit(2);
}

// The first line of `path` (a password file), without its line end.
Status ReadSecret(const std::string& path, std::string* out) {
  std::ifstream f(path);
  if (!f) return Status::InvalidArgument("cannot read " + path);
  std::getline(f, *out);
  if (!out->empty() && out->back() == '\r') out->pop_back();
  if (out->empty()) return Status::InvalidArgument(path + " is empty");
  return Status::OK();
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
  const ConsumerAgent::Options consumer_defaults;
  const ProviderAgent::Options provider_defaults;
  std::string role, mode = "direct", listen = consumer_defaults.listen;
  std::string etcd = consumer_defaults.etcd, prefix = consumer_defaults.service_prefix;
  int threads = consumer_defaults.threads;
  int timeout_ms = static_cast<int>(consumer_defaults.http.call_timeout.count());
  const HttpTimeouts& http_defaults = consumer_defaults.http.timeouts;
  int header_timeout_ms = static_cast<int>(http_defaults.header.count());
  int body_timeout_ms = static_cast<int>(http_defaults.body.count());
  int idle_timeout_ms = static_cast<int>(http_defaults.idle.count());
  std::string provider = "127.0.0.1:20880", service = provider_defaults.service;
  int weight = provider_defaults.weight, lease_ttl = provider_defaults.lease_ttl_seconds;
  int dubbo_connections = provider_defaults.dubbo.connections;
  int dubbo_heartbeat_ms = static_cast<int>(provider_defaults.dubbo.heartbeat_interval.count());
  std::size_t max_frame = kDefaultMaxAgentFrame;
  const char* broker_env = std::getenv("MESHQ_BROKER");
  std::string broker = broker_env ? broker_env : "127.0.0.1:9400";
  std::string durability = "written";
  const char* mq_url_env = std::getenv("MESHQ_MQ_URL");
  std::string mq_url = mq_url_env ? mq_url_env : "";
  std::string client_id = "consumer-" + std::to_string(getpid());
  int metrics_port = -1;  // off
  std::string metrics_bind = "127.0.0.1";
  // Direct mode: this agent's certificate and the mesh's CA, for its agent links (the broker and
  // etcd have flags of their own).
  meshq::TlsClientOptions tls;
  bool insecure_plaintext = false;
  RegistryAccess etcd_access;
  std::string etcd_password_file;

  meshq::FlagSet flags(
      "meshq-agent",
      "The mesh sidecar: --role consumer serves HTTP to applications, --role provider fronts a\n"
      "local Dubbo provider; --mode says how the two reach each other.\n"
      "Signals: SIGTERM/SIGINT stop; SIGUSR1 prints the MQ hop latencies since the last SIGUSR1\n"
      "(lines \"hop request|reply count=N p50_us=... buckets=...\") to stdout.",
      "--role consumer|provider [--mode direct|mq] [flags]");
  flags.Custom(
      "role", "consumer|provider", "",
      [&role](std::string_view v) {
        if (v != "consumer" && v != "provider") {
          return Status::InvalidArgument("not consumer or provider");
        }
        role = v;
        return Status::OK();
      },
      "which side of the mesh (required)");
  flags.Custom(
      "mode", "direct|mq", mode,
      [&mode](std::string_view v) {
        if (v != "direct" && v != "mq") return Status::InvalidArgument("not direct or mq");
        mode = v;
        return Status::OK();
      },
      "direct: the agents' own TCP protocol; mq: calls through a meshq-broker");
  flags.String("listen", &listen, "where to listen (the port is printed; 0 picks one)",
               "HOST:PORT");
  flags.String("etcd", &etcd, "etcd client URL", "URL");
  flags.String("service-prefix", &prefix, "registry key prefix", "P");
  flags.Int("threads", &threads, 1, 64, "I/O threads, one event loop each");
  flags.Int("timeout-ms", &timeout_ms, 1, 3'600'000, "consumer: deadline of each call");
  // How long an application may take (docs/agent-protocol.md, "Limits"); 0: no limit.
  flags.Int("http-header-timeout-ms", &header_timeout_ms, 0, 3'600'000,
            "consumer: a request's header must arrive within this of its first\n"
            "byte, else 408 and close (0: no limit)");
  flags.Int("http-body-timeout-ms", &body_timeout_ms, 0, 3'600'000,
            "consumer: a request's body must arrive within this of its header,\n"
            "else 408 and close (0: no limit)");
  flags.Int("http-idle-timeout-ms", &idle_timeout_ms, 0, 86'400'000,
            "consumer: a keep-alive connection with nothing in progress is closed\n"
            "after this (0: no limit)");
  flags.String("provider", &provider, "provider: the local Dubbo provider", "HOST:PORT");
  flags.Int("weight", &weight, 1, 1'000'000,
            "provider: declared capacity, relative; in mq mode also the calls taken\n"
            "from the broker at once");
  flags.String("service", &service, "provider: interface served", "NAME");
  flags.Int("dubbo-connections", &dubbo_connections, 1, 1024,
            "provider: connections to the provider per thread");
  flags.Int("dubbo-heartbeat-ms", &dubbo_heartbeat_ms, 0, 3'600'000,
            "provider: heartbeat on a Dubbo connection idle this long (Dubbo's default);\n"
            "three unanswered close it and a new one is opened; 0: none");
  flags.Int<std::size_t>("max-frame-bytes", &max_frame, 1024, std::size_t{1} << 30,
                         "direct: largest agent-to-agent frame; a larger answer fails alone\n"
                         "(502 answer too large); give both agents the same value");
  flags.Int("lease-ttl", &lease_ttl, 1, 3600, "provider: registry lease TTL in seconds");
  flags.String("broker", &broker, "mq: the meshq-broker ($MESHQ_BROKER, else 127.0.0.1:9400)",
               "HOST:PORT");
  flags.String("mq-durability", &durability,
               "mq: when the broker acknowledges calls: written (survives a broker\n"
               "kill -9), synced (also a machine crash), stored",
               "D");
  flags.String("client-id", &client_id, "mq consumer: reply-queue prefix", "ID");
  // mq: TLS to the broker (docs/SECURITY.md); any --broker-tls-* flag turns it on.
  meshq::TlsClientOptions broker_tls;
  meshq::DeclareTlsClientFlags(&flags, &broker_tls, "broker-tls-", "broker");
  flags.String("mq-url", &mq_url,
               "mq: what carries the calls, instead of --broker: meshq://HOST:PORT, or a\n"
               "NATS JetStream cluster nats://HOST:PORT,HOST:PORT,...[?replicas=N]\n"
               "($MESHQ_MQ_URL)",
               "URL");
  flags.Custom(
      "metrics-port", "N", "",
      [&metrics_port](std::string_view text) {
        uint16_t port = 0;
        Status s = meshq::FlagSet::ParseNumber<uint16_t>(text, false, 0, 65535, &port);
        if (s.ok()) metrics_port = port;
        return s;
      },
      "serve /metrics and /healthz on this port (docs/metrics.md); 0 picks a free\n"
      "one; off when not given");
  flags.String("metrics-bind", &metrics_bind, "address the metrics port listens on", "ADDR");
  flags.String("tls-cert", &tls.cert_file,
               "direct: this agent's certificate (PEM): a provider-agent serves it on its\n"
               "port, a consumer-agent presents it to provider-agents (mutual TLS)",
               "FILE");
  flags.String("tls-key", &tls.key_file, "direct: the private key (PEM) of --tls-cert", "FILE");
  flags.String("tls-ca", &tls.ca_file,
               "direct: the mesh's CA certificates (PEM): a provider-agent takes only links\n"
               "presenting a certificate they signed; a consumer-agent checks the\n"
               "provider-agents' certificates against them",
               "FILE");
  flags.String("tls-server-name", &tls.server_name,
               "direct, consumer: the name the provider-agents' certificates must carry\n"
               "(default: the address the registry gives)",
               "NAME");
  flags.Bool("insecure-plaintext", &insecure_plaintext,
             "listen on a non-loopback address without TLS (a provider-agent in direct\n"
             "mode without --tls-*, a consumer-agent's HTTP side)");
  meshq::DeclareTlsClientFlags(&flags, &etcd_access.tls, "etcd-tls-", "etcd (https:// --etcd)");
  flags.String("etcd-user", &etcd_access.user, "the etcd user to authenticate as (etcd auth)",
               "NAME");
  flags.String("etcd-password-file", &etcd_password_file,
               "the file holding --etcd-user's password (its first line)", "FILE");
  meshq::DeclareLogLevelFlag(&flags);
  if (auto exit_code = flags.ParseCommandLine(argc, argv)) return *exit_code;
  if (role.empty()) Fail("--role is required (consumer or provider)");
  if (!etcd_access.user.empty() && etcd_password_file.empty()) {
    Fail("--etcd-user needs --etcd-password-file");
  }
  if (!etcd_password_file.empty())
    FailUnless(ReadSecret(etcd_password_file, &etcd_access.password));
  if (!etcd.empty()) FailUnless(CheckRegistryAccess(etcd, etcd_access));
#if MESHQ_AGENT_HAS_MQ
  const bool mq = mode == "mq";
  MqOptions mq_options;
  if (mq) {
    if (!meshq::bridge::ParseBrokerAddress(broker, &mq_options.broker)) {
      Fail("bad --broker '" + broker + "': not HOST:PORT");
    }
    if (!meshq::bridge::ParsePutDurability(durability, &mq_options.durability)) {
      Fail("bad --mq-durability '" + durability + "': not stored, written or synced");
    }
    mq_options.client_id_prefix = client_id;
    if (!mq_url.empty()) {
      meshq::bridge::MqUrl url;
      if (Status s = meshq::bridge::ParseMqUrl(mq_url, &url); !s.ok()) {
        Fail("bad --mq-url: " + s.ToString());
      }
      mq_options.broker = url.broker;
      mq_options.nats = url.nats;
    }
    FailUnless(meshq::bridge::SetBrokerTls(broker_tls, &mq_options.broker));
  }
#else
  const bool mq = false;
#endif
  if (mode != "direct" && !mq) {
    // MQ mode rides on the bridge's RPC layer, which this build was configured without.
    Fail("--mode " + mode + " is not available in this build (built without the bridge)");
  }
  if (mq && tls.enabled()) {
    Fail("--tls-* are the direct-mode agent links'; in mq mode the broker takes --broker-tls-*");
  }
  const sigset_t stop_signals = BlockStopSignals();

  // Metrics: counted on the call path, served on a thread of their own (MetricsServer). Declared
  // before the agent so the server stops after it and before what its scrapes read.
  meshq::MetricsRegistry registry;
  std::unique_ptr<AgentMetrics> metrics;
  if (metrics_port >= 0) metrics = std::make_unique<AgentMetrics>(&registry, role);
  std::unique_ptr<meshq::MetricsServer> metrics_server;
  // Starts /metrics and /healthz; prints "metrics on ADDR:PORT" (before "listening on").
  auto start_metrics = [&](meshq::MetricsServer::HealthCheck health) {
    if (!metrics) return true;
    meshq::MetricsServerOptions mo;
    mo.bind = metrics_bind;
    mo.port = static_cast<uint16_t>(metrics_port);
    Status s = meshq::MetricsServer::Start(mo, &registry, std::move(health), &metrics_server);
    if (!s.ok()) {
      meshq::LogEvent(meshq::LogLevel::kError, role, "cannot serve metrics").Error(s);
      return false;
    }
    std::printf("metrics on %s:%u\n", metrics_bind.c_str(), metrics_server->port());
    return true;
  };

  if (role == "consumer") {
    // The HTTP side has no TLS: it is the local application's, so it serves loopback only
    // unless the operator says otherwise, like every plaintext meshq server.
    std::string host;
    uint16_t port = 0;
    if (!SplitHostPort(listen, &host, &port)) Fail("bad --listen '" + listen + "'");
    FailUnless(meshq::CheckPlaintextBind(
        "meshq-agent", host, "a loopback --listen (the HTTP side has no TLS)", insecure_plaintext));
    ConsumerAgent::Options options;
    options.listen = listen;
    options.threads = threads;
    options.etcd = etcd;
    options.etcd_access = etcd_access;
    options.service_prefix = prefix;
    options.http.call_timeout = std::chrono::milliseconds(timeout_ms);
    options.http.timeouts.header = std::chrono::milliseconds(header_timeout_ms);
    options.http.timeouts.body = std::chrono::milliseconds(body_timeout_ms);
    options.http.timeouts.idle = std::chrono::milliseconds(idle_timeout_ms);
    options.http.metrics = metrics.get();
    DirectTransport::Options direct;
    direct.link.max_frame = max_frame;
    direct.balancer.metrics = metrics.get();
    if (!mq && tls.enabled()) {
      FailUnless(meshq::MakeTlsClientContext(tls, &direct.link.tls));
      direct.link.tls_server_name = tls.server_name;
    }
    ConsumerTransportFactory factory = DirectTransport::Factory(direct);
#if MESHQ_AGENT_HAS_MQ
    if (mq) {
      mq_options.metrics = metrics.get();
      if (metrics) {
        meshq::bridge::HopStats().reply.Export(metrics->hop(AgentMetrics::Hop::kMqReply));
      }
      factory = MqConsumerTransport::Factory(mq_options);
    }
#endif
    ConsumerAgent agent(options, factory);
    Status s = agent.Start();
    if (!s.ok()) {
      meshq::LogEvent(meshq::LogLevel::kError, "consumer", "cannot start").Error(s);
      return 1;
    }
    const bool watching = !options.etcd.empty();
    if (!start_metrics([m = metrics.get(), watching] {
          return !watching || m->watch_up() ? Status::OK()
                                            : Status::Unavailable("registry watch is down");
        })) {
      return 1;
    }
    // The stdout line is what scripts and tests read; the log line is for the operator.
    std::printf("listening on %s:%u\n", listen.substr(0, listen.rfind(':')).c_str(), agent.port());
    std::fflush(stdout);
    meshq::LogEvent(meshq::LogLevel::kInfo, "consumer", "listening")
        .Field("listen", listen)
        .Field("port", unsigned{agent.port()})
        .Field("mode", mode)
        .Field("etcd", etcd);
    const int sig = WaitForStop(stop_signals);
    meshq::LogEvent(meshq::LogLevel::kInfo, "consumer", "stopping").Field("signal", sig);
    agent.Stop();
    return 0;
  }

  ProviderAgent::Options options;
  options.threads = threads;
  options.etcd = etcd;
  options.etcd_access = etcd_access;
  options.service_prefix = prefix;
  options.service = service;
  options.weight = weight;
  options.lease_ttl_seconds = lease_ttl;
  options.dubbo.connections = dubbo_connections;
  options.dubbo.heartbeat_interval = std::chrono::milliseconds(dubbo_heartbeat_ms);
  options.metrics = metrics.get();
  if (!SplitHostPort(provider, &options.dubbo.host, &options.dubbo.port)) {
    Fail("bad --provider '" + provider + "': not HOST:PORT");
  }
  AgentListener::Options listener;
  listener.max_frame = max_frame;
  if (!mq) {
    if (tls.enabled()) {
      // Mutual TLS only: a provider-agent with TLS on answers no one without a mesh certificate.
      if (tls.cert_file.empty()) Fail("TLS on a provider-agent needs --tls-cert and --tls-key");
      if (tls.ca_file.empty()) Fail("--tls-cert on a provider-agent needs --tls-ca (mutual TLS)");
      if (!tls.server_name.empty()) Fail("--tls-server-name is for consumer-agents");
      meshq::TlsServerOptions server{tls.cert_file, tls.key_file, tls.ca_file};
      FailUnless(meshq::MakeTlsServerContext(server, &listener.tls));
    } else {
      std::string host;
      uint16_t port = 0;
      if (!SplitHostPort(listen, &host, &port)) Fail("bad --listen '" + listen + "'");
      FailUnless(meshq::CheckPlaintextBind(
          "meshq-agent", host, "--tls-cert, --tls-key and --tls-ca", insecure_plaintext));
    }
  }
  ProviderTransportFactory factory = AgentListener::Factory(listen, listener);
#if MESHQ_AGENT_HAS_MQ
  if (mq) {
    if (flags.given("weight")) {
      mq_options.max_in_flight = static_cast<uint32_t>((options.weight + threads - 1) / threads);
    }
    mq_options.metrics = metrics.get();
    if (metrics) {
      meshq::bridge::HopStats().request.Export(metrics->hop(AgentMetrics::Hop::kMqRequest));
    }
    factory = MqProviderTransport::Factory(mq_options, options.service, provider);
  }
#endif
  ProviderAgent agent(options, factory);
  Status s = agent.Start();
  if (!s.ok()) {
    meshq::LogEvent(meshq::LogLevel::kError, "provider", "cannot start").Error(s);
    return 1;
  }
  const bool registering = !options.etcd.empty();
  if (!start_metrics([m = metrics.get(), registering] {
        return !registering || m->registered() ? Status::OK()
                                               : Status::Unavailable("not registered");
      })) {
    return 1;
  }
  std::printf("listening on %s\n", agent.address().c_str());
  std::fflush(stdout);
  meshq::LogEvent(meshq::LogLevel::kInfo, "provider", "listening")
      .Field("address", agent.address())
      .Field("mode", mode)
      .Field("provider", provider)
      .Field("service", options.service);
  const int sig = WaitForStop(stop_signals);
  meshq::LogEvent(meshq::LogLevel::kInfo, "provider", "stopping").Field("signal", sig);
  agent.Stop();
  return 0;
}
