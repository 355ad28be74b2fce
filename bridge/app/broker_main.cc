// meshq-broker: hosts one QueueStore over TCP. Prints "listening on ADDR:PORT" once it accepts
// (after "metrics on ADDR:PORT" when it serves metrics). Exit status 2 for a configuration it
// cannot start with (bad usage, a TLS file it cannot use, plaintext on a non-loopback address).
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>

#include "meshq/bridge/broker.h"
#include "meshq/flags.h"
#include "meshq/log.h"
#include "meshq/tls.h"

int main(int argc, char** argv) {
  // A reader of our stdout may go away (tests read only the first line).
  std::signal(SIGPIPE, SIG_IGN);
  meshq::bridge::BrokerOptions options;
  int64_t responder_grace_ms = options.responder_grace.count();
  int64_t dedupe_min_age_ms = options.dedupe_min_age.count();
  int64_t redelivery_hold_ms = options.redelivery_hold.count();
  int64_t group_expiry_ms = options.group_expiry.count();
  int64_t commit_interval_ms = options.offset_commit_interval.count();
  int64_t commit_linger_us = options.commit_linger.count();
  int64_t commit_pace_us = options.commit_pace.count();
  int64_t frame_timeout_ms = options.frame_timeout.count();
  int64_t idle_timeout_ms = options.idle_timeout.count();
  int64_t retention_ms = options.retention.count();
  int64_t retention_round_ms = options.retention_round.count();
  meshq::FlagSet flags("meshq-broker", "Hosts one meshq store over TCP (docs/broker-protocol.md).",
                       "--dir DIR [flags]");
  flags.String("dir", &options.dir, "the store's directory (required)", "DIR");
  flags.String("bind", &options.bind, "address to listen on", "ADDR");
  flags.Int<uint16_t>("port", &options.port, 0, 65535, "TCP port; 0 picks a free one");
  // TLS (docs/SECURITY.md).
  meshq::DeclareTlsServerFlags(&flags, &options.tls, "tls-");
  flags.Bool("insecure-plaintext", &options.insecure_plaintext,
             "serve plaintext on a non-loopback --bind (refused otherwise)");
  flags.Int("threads", &options.threads, 1, 64, "io threads, one event loop each");
  // Its table is allocated up front: 16M ids is ~150 MB before any id arrives.
  flags.Int<size_t>("dedupe-window", &options.dedupe_window, 1, size_t{1} << 24,
                    "request ids remembered for deduplication");
  flags.Int<int64_t>("responder-grace-ms", &responder_grace_ms, 0, 3'600'000,
                     "a group that lost its last member still has consumers this long");
  flags.Int<int64_t>("dedupe-min-age-ms", &dedupe_min_age_ms, 0, 3'600'000,
                     "no request id is forgotten sooner than this after it was first seen");
  flags.Int<int64_t>("group-expiry-ms", &group_expiry_ms, 1, 30LL * 24 * 3'600'000,
                     "a consumer group without members this long is forgotten (its offset\n"
                     "stays stored)");
  flags.Int<int64_t>("redelivery-hold-ms", &redelivery_hold_ms, 0, 3'600'000,
                     "a request handed to a responder that went away waits this long for it");
  flags.Int<int64_t>("commit-interval-ms", &commit_interval_ms, 1, 60'000,
                     "how often consumer-group offsets are written");
  flags.Int<int64_t>("commit-linger-us", &commit_linger_us, 0, 1'000'000,
                     "how long a group commit waits for more to share it");
  flags.Int<int64_t>("commit-pace-us", &commit_pace_us, 0, 1'000'000,
                     "after a busy group commit, the next starts no sooner than this after\n"
                     "it started (0: back to back)");
  // Limits on what one client may hold (docs/broker-protocol.md, "Limits").
  flags.Count<uint32_t>("max-frame-bytes", &options.max_frame_bytes, 1024, 16u << 20,
                        "a larger frame body is refused and the connection closed");
  flags.Count<size_t>("max-buffered-bytes", &options.max_buffered_bytes, 0, size_t{1} << 40,
                      "input held for unfinished frames across all connections; the\n"
                      "connection that would exceed it is closed (0: no limit)");
  flags.Count<uint32_t>("max-parked-fetches", &options.max_parked_fetches, 0, 1u << 30,
                        "long-polls waiting at once per connection; more are refused Busy\n"
                        "(0: no limit)");
  flags.Int<int64_t>("frame-timeout-ms", &frame_timeout_ms, 0, 3'600'000,
                     "a frame begun must be finished within this (0: no limit)");
  flags.Int<int64_t>("idle-timeout-ms", &idle_timeout_ms, 0, 86'400'000,
                     "a connection with no frame and no parked fetch for this long is\n"
                     "closed (0: no limit)");
  flags.Custom(
      "metrics-port", "N", "",
      [&options](std::string_view text) {
        uint16_t port = 0;
        meshq::Status s = meshq::FlagSet::ParseNumber<uint16_t>(text, false, 0, 65535, &port);
        if (s.ok()) options.metrics_port = port;
        return s;
      },
      "serve /metrics and /healthz on this port (docs/metrics.md); 0 picks a free\n"
      "one; off when not given");
  flags.String("metrics-bind", &options.metrics_bind, "address the metrics port listens on",
               "ADDR");
  // Retention (docs/broker-protocol.md, "Retention"): off unless one of the two is given.
  flags.Int<int64_t>("retention-ms", &retention_ms, 0, 3650LL * 86'400'000,
                     "messages older than this may be trimmed once no consumer group needs\n"
                     "them (0: no age limit)");
  flags.Count<uint64_t>("retention-bytes", &options.retention_bytes, 0, uint64_t{1} << 60,
                        "per queue: what has this many bytes stored after it may be trimmed\n"
                        "once no consumer group needs it (0: no size limit)");
  flags.Int<int64_t>("retention-round-ms", &retention_round_ms, 10, 3'600'000,
                     "how often the retention looks for what it may trim");
  // Security (docs/SECURITY.md).
  flags.String("acl", &options.acl_file,
               "access-control list: operations not granted by a rule are refused\n"
               "(default deny; docs/SECURITY.md, Access control)",
               "FILE");
  flags.String("audit-key", &options.audit_key_file,
               "key of the audit chain: every stored message gets a keyed digest\n"
               "(`meshq audit --verify`; docs/SECURITY.md, Tamper-evident audit)",
               "FILE");
  bool unbound_replies = false;
  flags.Bool("unbound-replies", &unbound_replies,
             "store a REPLY put from any connection, not only from the one handed the\n"
             "request (for tests of the dedupe rules)");
  meshq::DeclareLogLevelFlag(&flags);
  if (auto exit_code = flags.ParseCommandLine(argc, argv)) return *exit_code;
  options.retention = std::chrono::milliseconds(retention_ms);
  options.retention_round = std::chrono::milliseconds(retention_round_ms);
  options.frame_timeout = std::chrono::milliseconds(frame_timeout_ms);
  options.idle_timeout = std::chrono::milliseconds(idle_timeout_ms);
  options.responder_grace = std::chrono::milliseconds(responder_grace_ms);
  options.dedupe_min_age = std::chrono::milliseconds(dedupe_min_age_ms);
  options.redelivery_hold = std::chrono::milliseconds(redelivery_hold_ms);
  options.group_expiry = std::chrono::milliseconds(group_expiry_ms);
  options.offset_commit_interval = std::chrono::milliseconds(commit_interval_ms);
  options.commit_linger = std::chrono::microseconds(commit_linger_us);
  options.commit_pace = std::chrono::microseconds(commit_pace_us);
  options.bind_replies = !unbound_replies;
  // A bad security file is a usage error, said before anything is opened.
  if (meshq::Status s = meshq::bridge::Broker::CheckOptions(options); !s.ok()) {
    std::fprintf(stderr, "meshq-broker: %s\n", std::string(s.message()).c_str());
    return 2;
  }

  std::unique_ptr<meshq::bridge::Broker> broker;
  meshq::Status s = meshq::bridge::Broker::Open(options, &broker);
  if (!s.ok()) {
    meshq::LogEvent(meshq::LogLevel::kError, "broker", "cannot start")
        .Field("dir", options.dir)
        .Error(s);
    return s.IsInvalidArgument() ? 2 : 1;
  }
  // Before "listening on", which tells a reader the broker is ready.
  if (options.metrics_port >= 0) {
    std::printf("metrics on %s:%u\n", options.metrics_bind.c_str(), broker->metrics_port());
  }
  // The stdout line is the contract with scripts and tests; the log line is for the operator.
  std::printf("listening on %s:%u\n", options.bind.c_str(), broker->port());
  std::fflush(stdout);
  meshq::LogEvent(meshq::LogLevel::kInfo, "broker", "listening")
      .Field("bind", options.bind)
      .Field("port", broker->port())
      .Field("dir", options.dir)
      .Field("threads", options.threads)
      .Field("tls", !options.tls.enabled()               ? "off"
                    : options.tls.client_ca_file.empty() ? "server"
                                                         : "mutual");
  s = broker->Run();
  if (!s.ok()) {
    meshq::LogEvent(meshq::LogLevel::kError, "broker", "shutdown failed").Error(s);
    return 1;
  }
  meshq::LogEvent(meshq::LogLevel::kInfo, "broker", "stopped");
  return 0;
}
