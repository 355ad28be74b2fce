// Broker: a TCP server hosting one QueueStore for many clients, speaking the frames of
// docs/broker-protocol.md. One io_context per thread, one object per connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "meshq/status.h"
#include "meshq/tls.h"

namespace meshq::bridge {

struct BrokerOptions {
  std::string dir;                 // the QueueStore's directory (required)
  std::string bind = "127.0.0.1";  // loopback unless told otherwise
  // TLS on every connection (docs/SECURITY.md): each handshakes before its first frame, within
  // frame_timeout. With tls.client_ca_file (mutual TLS) a client without a certificate that
  // verifies against it is refused at the handshake, and a verified one has an identity.
  TlsServerOptions tls;
  // Without TLS, a bind address other than loopback is refused unless this is set.
  bool insecure_plaintext = false;
  uint16_t port = 0;  // 0 = an ephemeral port (see Broker::port())
  int threads = 2;    // io threads, each with its own io_context
  // A group whose last member left less than this long ago still counts as having consumers
  // (a responder restarting is not "no responders"); after a restart of the broker (its store
  // held data), every group counts as having consumers for this long.
  std::chrono::milliseconds responder_grace{3000};
  // Dedupe ids remembered (and replayed from the journal after a restart).
  size_t dedupe_window = 1u << 18;
  // No id is forgotten sooner than this after it was first seen: a PUT of a new id that would
  // evict a younger one is refused (Busy), so no client, however fast it sends ids, makes a
  // retry within this bound be stored twice. Longer than the callers' deadlines.
  std::chrono::milliseconds dedupe_min_age{10000};
  // A request assigned to a responder (GroupFetchRequest::member) and not acked is held for that
  // responder this long after its connection closed, or after a restart of the broker, before
  // any other responder may have it: the one it was handed to may have run it and remembers its
  // reply. Longer than the callers' deadlines, so a request released by the hold has expired
  // and is dropped unexecuted by whoever takes it.
  std::chrono::milliseconds redelivery_hold{30000};
  // A consumer group without members this long (a requester that went away leaves its reply
  // queue's group behind) is forgotten: its memory is freed, its committed offset stays in the
  // store's metadata and is where it resumes if it comes back.
  std::chrono::milliseconds group_expiry{3'600'000};
  // A connection whose unsent responses exceed this stops being read until they drain.
  size_t max_outbound_bytes = 8u << 20;
  // Limits on what a client may make the broker hold (docs/broker-protocol.md, "Limits").
  // A frame body above this is refused (ERROR BadFrame, then close): bounds one connection's
  // input buffer, which grows with the frame being received, never beyond it.
  uint32_t max_frame_bytes = 16u << 20;
  // The input buffered for frames larger than one read, across all connections; a connection
  // whose frame would take it beyond is answered ERROR Busy and closed. 0 = no limit.
  size_t max_buffered_bytes = 512u << 20;
  // FETCH / GROUP_FETCH waits parked at once per connection; one more is answered ERROR Busy
  // instead of parked. 0 = no limit.
  uint32_t max_parked_fetches = 4096;
  // A connection that started a frame (header or body) must finish it within this, else it is
  // answered ERROR TimedOut and closed. 0 = no limit.
  std::chrono::milliseconds frame_timeout{30000};
  // A connection that sent no frame for this long and has no parked fetch is answered ERROR
  // TimedOut and closed. Longer than any long-poll a client makes. 0 = no limit.
  std::chrono::milliseconds idle_timeout{300000};
  // How often dirty consumer-group offsets are written to the store's metadata.
  std::chrono::milliseconds offset_commit_interval{20};
  // How long the committer waits, after a FLUSH or WRITTEN put (or a SYNC ack) wakes it, for more
  // to share the group commit. 0: it starts at once (a producer waiting for each acknowledgement is
  // not slowed). Under load a linger means fewer, larger Flushes and so less broker CPU
  // (docs/BENCHMARKS.md); each acknowledgement waits up to that much longer. Puts are readable (and
  // delivered to consumers) before either way.
  std::chrono::microseconds commit_linger{0};
  // After a busy group commit (8+ requests answered, or requests waiting at its end) the next
  // starts no sooner than this after the busy one started, so that the rounds per second, and
  // with them the blocks sealed per second (what a time-based retention keeps), follow the load
  // the broker carries rather than how fast a round runs at the moment. A producer waiting for
  // each acknowledgement is never paced. 0: rounds run back to back.
  std::chrono::microseconds commit_pace{1000};
  // /metrics and /healthz (docs/metrics.md) on their own thread: -1 = off, 0 = an ephemeral
  // port (see Broker::metrics_port()).
  int metrics_port = -1;
  std::string metrics_bind = "127.0.0.1";
  // Retention (docs/broker-protocol.md, "Retention"); both 0: nothing is ever trimmed. A message
  // may go once it is older than `retention` or has `retention_bytes` stored after it in its
  // queue, and no consumer group of its queue still needs it; RPC replies and the dedupe
  // journal also stay while the dedupe window may need them.
  std::chrono::milliseconds retention{0};
  uint64_t retention_bytes = 0;
  // How often the retention round runs (each visits a bounded share of the queues).
  std::chrono::milliseconds retention_round{1000};
  // Security (docs/SECURITY.md). An ACL file: every operation is refused (PermissionDenied)
  // unless a rule grants it to the connection's identity; empty: everything is allowed.
  std::string acl_file;
  // A key file: every stored message carries a keyed digest chaining it to the one before it in
  // its queue (`meshq audit --verify`); empty: no chain.
  std::string audit_key_file;
  // A REPLY put is stored only from the connection that was last handed the request (by a
  // group fetch), or one of the same identity: nobody settles calls that are not theirs.
  bool bind_replies = true;
};

class Broker {
 public:
  // Reads the files the options name (ACL, audit key) without opening anything else:
  // InvalidArgument naming the file (and the ACL's line) when one is bad.
  static Status CheckOptions(const BrokerOptions& options);
  // Opens the store, recovers dedupe state and binds the listening socket. InvalidArgument
  // (before the store is touched) for a TLS file that cannot be used (meshq/tls.h), or a
  // non-loopback bind without TLS and without insecure_plaintext.
  static Status Open(const BrokerOptions& options, std::unique_ptr<Broker>* broker);
  virtual ~Broker() = default;

  // The bound port (the ephemeral one when options.port was 0).
  virtual uint16_t port() const = 0;
  // The metrics responder's port (0 when options.metrics_port is -1).
  virtual uint16_t metrics_port() const = 0;
  // Serves until SIGTERM/SIGINT or Shutdown(), then persists offsets, flushes and closes the
  // store. Returns the first error of that shutdown.
  virtual Status Run() = 0;
  // Makes Run return. Thread-safe.
  virtual void Shutdown() = 0;
};

}  // namespace meshq::bridge
