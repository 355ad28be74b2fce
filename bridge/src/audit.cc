// Audit: pairs stored requests with stored replies and reports on them.
#include "meshq/bridge/audit.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <set>
#include <unordered_map>

#include "audit_chain.h"
#include "chain_heads.h"
#include "dedupe_journal.h"
#include "meshq/bridge/blocking_broker_client.h"
#include "meshq/bridge/rpc_backend.h"
#include "meshq/bridge/rpc_message.h"
#include "meshq/flags.h"
#include "meshq/tls.h"
#include "stored_message.h"
#if MESHQ_HAVE_NATS
#include "nats/nats_audit.h"
#endif

namespace meshq::bridge {
namespace {

constexpr uint32_t kReadBatch = 1000;

struct AuditedCall {
  uint64_t offset = 0;
  uint64_t sent_us = 0;
  uint64_t deadline_us = 0;
  uint32_t attempt = 0;
  std::string reply_to;
  bool answered = false;
  bool handler_error = false;
  uint64_t replied_us = 0;
  uint32_t replies = 0;              // distinct replies (a second one means a second execution)
  uint32_t replayed = 0;             // copies of the first reply, byte for byte, stored again
  std::string first_reply;           // the first reply's bytes
  uint32_t stored = 0;               // copies of the request in the queue
  std::vector<uint64_t> responders;  // distinct members it was assigned to (dedupe journal)
  std::string caller;                // the identity the broker stamped on the request
  std::string responder;             // ... and on its first reply
};

// A stored record as the audit reads it (GET with kReadFlagStored): the broker's envelope with
// the identity it stamped, and the client's payload.
struct AuditedMessage {
  uint64_t offset = 0;
  StoredMessage stored;
  std::string_view raw;  // the whole record
};

std::string Hex(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

std::string IdentityOrAnonymous(std::string_view identity) {
  return identity.empty() ? "-" : std::string(identity);
}

// A reply may be stored a little out of the order of its replied_us (responders racing), so a
// request sent this soon after the first reply the retention kept may have had its reply
// trimmed before it.
constexpr uint64_t kTrimHorizonSlackUs = 1'000'000;

// What reading a queue found of the retention: its first kept offset > 0 means a prefix was
// trimmed (offsets never change); `size` 0 means the queue was never written.
struct QueueExtent {
  uint64_t size = 0;
  bool trimmed = false;
};

// Reads a whole queue's stored records through the broker (what the retention kept of it),
// calling `each` per record. A record of a format this audit does not know is Corruption.
// With `raw_only` (the broker's own queues, whose records have no envelope) only `raw` is set.
template <typename Fn>
Status ReadQueue(BlockingBrokerClient& client, const std::string& queue, Fn each,
                 QueueExtent* extent = nullptr, bool raw_only = false) {
  std::vector<OwnedMessage> batch;
  uint64_t offset = 0;
  for (;;) {
    uint64_t size = 0;
    Status s = client.Get(queue, offset, kReadBatch, &batch, &size, kReadFlagStored);
    if (!s.ok()) return s;
    if (extent && offset == 0) {
      extent->size = size;
      extent->trimmed = batch.empty() ? size > 0 : batch.front().offset > 0;
    }
    if (batch.empty()) return Status::OK();
    for (const OwnedMessage& m : batch) {
      AuditedMessage a;
      a.offset = m.offset;
      a.raw = m.payload;
      if (!raw_only && !DecodeStoredMessage(m.payload, &a.stored)) {
        return Status::Corruption(queue + " offset " + std::to_string(m.offset) +
                                  ": a stored record of an unknown format (a newer broker?)");
      }
      each(a);
    }
    offset = batch.back().offset + 1;
  }
}

// The outcome of verifying one queue's chain.
struct ChainVerdict {
  uint64_t verified = 0;   // records whose digest matched
  uint64_t below_cut = 0;  // kept records below the anchor: a trim not yet done with them
  std::string first_bad;   // empty: the chain holds
  uint64_t first_bad_offset = 0;
  uint64_t start = 0;     // the offset the chain was verified from (its anchor, or 0)
  uint64_t end = 0;       // the queue's size
  std::string head;       // the chain's value at `end` (the last digest), when it holds
  std::string digest_at;  // the chain's value at `want` (see VerifyChain), when reached
};

// Walks `queue`'s chain from its first kept record (or its anchor) to its end; also keeps the
// chain's value at offset `want` (the digest of the message before it) when the walk passes it.
Status VerifyChain(BlockingBrokerClient& client, const AuditKey& key, const std::string& queue,
                   uint64_t want, ChainVerdict* v) {
  std::string body;
  Status s = client.Anchor(queue, &body);
  if (!s.ok()) return s;
  ChainAnchor anchor;
  bool anchored = !body.empty() && body[0] == 1;
  if (anchored && !DecodeChainAnchor(std::string_view(body).substr(1), &anchor)) {
    return Status::Corruption("malformed ANCHOR answer");
  }
  auto bad = [v](uint64_t offset, std::string why) {
    if (!v->first_bad.empty()) return;
    v->first_bad_offset = offset;
    v->first_bad = std::move(why);
  };
  if (anchored && key.AnchorMac(queue, anchor.offset, anchor.digest) != anchor.mac) {
    bad(anchor.offset, "trim anchor at offset " + std::to_string(anchor.offset) +
                           " not made with this key (forged, or another key)");
    return Status::OK();
  }
  bool first = true;
  uint64_t next = 0;  // the offset the chain expects next
  std::string prev;
  QueueExtent extent;
  s = ReadQueue(
      client, queue,
      [&](const AuditedMessage& m) {
        if (!v->first_bad.empty()) return;
        if (first) {
          first = false;
          if (anchored && anchor.offset > m.offset) {
            next = anchor.offset;  // a crash between the anchor and the trim kept these
            prev = anchor.digest;
          } else if (m.offset == 0) {
            prev = kChainGenesis;
          } else if (anchored && anchor.offset == m.offset) {
            next = m.offset;
            prev = anchor.digest;
          } else {
            return bad(m.offset, "offsets below " + std::to_string(m.offset) +
                                     " are gone without a trim anchor: removed");
          }
          v->start = next;
        }
        if (m.offset < next) return ++v->below_cut, void();
        if (m.offset != next) {
          return bad(next, "offset " + std::to_string(next) + " missing");
        }
        if (next == want) v->digest_at = prev;
        ++next;
        const StoredMessage& sm = m.stored;
        const std::string what = std::string(sm.flags & kMessageFlagReply ? "reply" : "message") +
                                 " " + Hex(sm.dedupe_id);
        if (!(sm.flags & kStoredFlagChained)) {
          return bad(m.offset, what + " not chained (stored without an audit key, or its " +
                                   "digest stripped)");
        }
        if (key.Chain(prev, queue, m.offset, sm) != sm.digest) {
          return bad(m.offset, what + ": digest mismatch (changed, inserted, removed or " +
                                   "reordered at or before it)");
        }
        prev = std::string(sm.digest);
        ++v->verified;
      },
      &extent);
  if (!s.ok()) return s;
  v->end = extent.size;
  if (first) {  // no record kept: the chain is its anchor's, or has not begun
    v->start = anchored ? anchor.offset : 0;
    next = v->start;
    prev = anchored ? anchor.digest : kChainGenesis;
  }
  if (next == want) v->digest_at = prev;
  v->head = prev;
  // A queue trimmed to empty ends at its anchor; one with records ends where they do.
  if (anchored && anchor.offset > extent.size) {
    bad(extent.size, "trim anchor at offset " + std::to_string(anchor.offset) +
                         " past the queue's end " + std::to_string(extent.size) + ": removed");
  } else if (first && extent.size > 0 && !(anchored && anchor.offset == extent.size)) {
    bad(0, "all " + std::to_string(extent.size) + " messages gone without a trim anchor: removed");
  }
  return Status::OK();
}

std::string Micros(uint64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f ms", static_cast<double>(us) / 1000.0);
  return buf;
}

// Adds (kAssignment) or removes (kRelease: handed back unrun, not an execution) a responder.
void AddResponder(const JournalRecord& j, std::vector<uint64_t>* responders) {
  auto at = std::find(responders->begin(), responders->end(), j.member);
  if (j.kind == JournalKind::kRelease) {
    if (at != responders->end()) responders->erase(at);
  } else if (at == responders->end()) {
    responders->push_back(j.member);
  }
}

}  // namespace

int RunAudit(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string broker, service, mq_url, audit_key_file, heads_file;
  uint64_t since_seconds = 0;
  size_t limit = 100;
  bool verify = false, list_calls = false;
  FlagSet flags("meshq audit",
                "Pairs a service's stored RPC requests with their replies through a broker;\n"
                "exit 0 all answered in time, 1 some unanswered or late, 2 bad usage or no broker.",
                "--broker HOST:PORT --service S [flags]");
  flags.String("broker", &broker, "the meshq-broker (this or --mq-url is required)", "HOST:PORT");
  flags.String("mq-url", &mq_url,
               "instead of --broker: meshq://HOST:PORT, or the NATS JetStream cluster\n"
               "nats://HOST:PORT,... whose streams hold the calls",
               "URL");
  flags.String("service", &service, "the service whose calls are audited (required)");
  flags.Int<uint64_t>("since", &since_seconds, 0, uint64_t{1} << 40,
                      "only calls stored from this time on (UNIX seconds)");
  flags.Int<size_t>("limit", &limit, 0, size_t{1} << 32, "unanswered or late calls listed");
  flags.Bool("calls", &list_calls,
             "list every call: its id, caller and responder (the identities the broker\n"
             "stamped), outcome and latency");
  flags.Bool("verify", &verify,
             "verify the audit chain of the request queue and its reply queues (needs\n"
             "--audit-key); exit 1 naming the first bad message when it is broken");
  flags.String("audit-key", &audit_key_file, "the broker's --audit-key file", "FILE");
  flags.String("heads", &heads_file,
               "with --verify: where each chain ended at the last audit; every chain must\n"
               "extend it (else its newest messages were removed or the store rolled back),\n"
               "and a clean audit rewrites it. Keep it off the broker's host",
               "FILE");
  TlsClientOptions tls;
  DeclareTlsClientFlags(&flags, &tls, "tls-", "broker");
  if (auto exit_code = flags.ParseArguments(args, out, err)) return *exit_code;
  const uint64_t since_us = since_seconds * 1000000ull;
  if (!mq_url.empty()) {
    MqUrl url;
    if (Status parsed = ParseMqUrl(mq_url, &url); !parsed.ok()) {
      err << UsageError(flags.program(), "bad --mq-url: " + parsed.ToString());
      return 2;
    }
#if MESHQ_HAVE_NATS
    if (url.is_nats()) {
      if (service.empty()) {
        err << UsageError(flags.program(), "--service is required");
        return 2;
      }
      if (verify || list_calls) {
        // NATS streams carry neither the broker's stamped identities nor its chain.
        err << UsageError(flags.program(), "--verify and --calls need a meshq-broker");
        return 2;
      }
      return nats::RunNatsAudit(url.nats, service, since_us, limit, out, err);
    }
#endif
    broker = url.broker.host + ":" + std::to_string(url.broker.port);
  }
  BrokerAddress address;
  if (!ParseBrokerAddress(broker, &address)) {
    err << UsageError(flags.program(), broker.empty()
                                           ? "--broker is required"
                                           : "bad --broker '" + broker + "': not HOST:PORT");
    return 2;
  }
  if (service.empty()) {
    err << UsageError(flags.program(), "--service is required");
    return 2;
  }
  std::unique_ptr<AuditKey> key;
  if (verify != !audit_key_file.empty()) {
    err << UsageError(flags.program(), "--verify and --audit-key go together");
    return 2;
  }
  if (!heads_file.empty() && !verify) {
    err << UsageError(flags.program(), "--heads needs --verify");
    return 2;
  }
  ChainHeads recorded;
  if (!heads_file.empty()) {
    Status h = LoadChainHeads(heads_file, &recorded);
    if (!h.ok() && !h.IsNotFound()) {
      err << "audit: " << h.message() << "\n";
      return 2;
    }
  }
  if (verify) {
    Status k = AuditKey::Load(audit_key_file, &key);
    if (!k.ok()) {
      err << "audit: " << k.message() << "\n";
      return 2;
    }
  }
  if (Status t = SetBrokerTls(tls, &address); !t.ok()) {
    err << "audit: " << t.ToString() << "\n";
    return 2;
  }
  BlockingBrokerClient client(address);
  Status s = client.Connect(std::chrono::seconds(3));
  if (!s.ok()) {
    err << "audit: " << broker << ": " << s.ToString() << "\n";
    return 2;
  }

  std::map<uint64_t, AuditedCall> calls;  // by request id
  uint64_t malformed = 0;
  const std::string request_queue = RequestQueueName(service);
  s = ReadQueue(client, request_queue, [&](const AuditedMessage& m) {
    RpcRequest r;
    if (!DecodeRpcRequest(m.stored.payload, &r).ok()) return ++malformed, void();
    if (r.sent_us < since_us) return;
    AuditedCall& c = calls[r.request_id];
    if (++c.stored > 1) return;  // a second copy: counted, the first one describes the call
    c.caller = IdentityOrAnonymous(m.stored.identity);
    c.offset = m.offset;
    c.sent_us = r.sent_us;
    c.deadline_us = r.deadline_us;
    c.attempt = r.attempt;
    c.reply_to = std::string(r.reply_to);
  });
  if (!s.ok()) {
    err << "audit: reading " << request_queue << ": " << s.ToString() << "\n";
    return 2;
  }
  std::vector<std::string> reply_queues;
  for (const auto& [id, c] : calls) reply_queues.push_back(c.reply_to);
  std::sort(reply_queues.begin(), reply_queues.end());
  reply_queues.erase(std::unique(reply_queues.begin(), reply_queues.end()), reply_queues.end());
  // A reply queue the retention trimmed: requests sent before the first reply it kept (all of
  // them, when it kept none) may have had their replies trimmed.
  std::map<std::string, uint64_t> trimmed_before_us;
  for (const std::string& q : reply_queues) {
    QueueExtent extent;
    bool first = true;
    uint64_t first_replied_us = ~uint64_t{0};
    s = ReadQueue(
        client, q,
        [&](const AuditedMessage& m) {
          RpcReply r;
          if (!DecodeRpcReply(m.stored.payload, &r).ok()) return ++malformed, void();
          if (first) first_replied_us = r.replied_us, first = false;
          auto it = calls.find(r.request_id);
          if (it == calls.end()) return;  // another service's call, or before --since
          AuditedCall& c = it->second;
          // A responder answering a redelivery from its remembered replies stores the same bytes
          // again (the broker died after storing the reply, before journaling it): one execution.
          if (c.replies > 0 && m.stored.payload == c.first_reply) return ++c.replayed, void();
          if (++c.replies == 1) {
            c.first_reply = m.stored.payload;
            c.responder = IdentityOrAnonymous(m.stored.identity);
            c.answered = true;
            c.replied_us = r.replied_us;
            c.handler_error = r.status != ReplyStatus::kOk;
          }
        },
        &extent);
    if (!s.ok()) {
      err << "audit: reading " << q << ": " << s.ToString() << "\n";
      return 2;
    }
    if (extent.trimmed) {
      trimmed_before_us[q] = first_replied_us == ~uint64_t{0}
                                 ? first_replied_us
                                 : first_replied_us + kTrimHorizonSlackUs;
    }
  }

  // Every hand-out of a request to a responder is recorded before the responder gets it, so a
  // call the journal assigns to two responders may have run twice, and one assigned without a
  // stored request ran although a crash lost the request (its retry found the stored reply):
  // the audit's view of executions the request queue cannot account for. Responders serve one
  // service each, so an assignment of an unknown id to one of this service's responders is this
  // service's.
  std::vector<JournalRecord> unknown;  // assignments / releases of ids not in the queue
  // The retention trims the journal like the queues (docs/broker-protocol.md, "Retention"): the
  // generations it emptied are skipped (a broker without STATS' counter: from 0), and the ones
  // it emptied since are read as empty.
  BrokerStats stats;
  const uint64_t first_generation =
      client.Stats(&stats).ok() ? StatValue(stats, "dedupe_first_generation") : 0;
  for (uint64_t generation = first_generation;; ++generation) {
    QueueExtent extent;
    s = ReadQueue(
        client, DedupeJournalQueue(generation),
        [&](const AuditedMessage& m) {
          // The broker writes its journal without the message envelope: the stored record is
          // the journal record.
          JournalRecord j;
          if (!DecodeJournalRecord(m.raw, &j)) return ++malformed, void();
          if (j.kind != JournalKind::kAssignment && j.kind != JournalKind::kRelease) return;
          auto it = calls.find(j.id);
          if (it == calls.end()) return unknown.push_back(j);
          AddResponder(j, &it->second.responders);
        },
        &extent, /*raw_only=*/true);
    if (!s.ok()) {
      err << "audit: reading the dedupe journal: " << s.ToString() << "\n";
      return 2;
    }
    if (extent.size == 0) break;  // never written: the generations end here
  }

  std::set<uint64_t> responders_of_service;
  for (const auto& [id, c] : calls)
    responders_of_service.insert(c.responders.begin(), c.responders.end());
  std::map<uint64_t, AuditedCall> unstored;  // by request id
  for (const JournalRecord& j : unknown) {
    if (responders_of_service.count(j.member)) AddResponder(j, &unstored[j.id].responders);
  }
  uint64_t unstored_runs = 0;
  for (auto it = unstored.begin(); it != unstored.end();) {
    if (it->second.responders.empty()) {
      it = unstored.erase(it);
      continue;
    }
    unstored_runs += it->second.responders.size();
    ++it;
  }

  const uint64_t now = UnixMicros();
  uint64_t stored_twice = 0, multi_responder = 0, assignments = 0, replayed = 0;
  uint64_t answered = 0, handler_errors = 0, late = 0, timed_out = 0, waiting = 0, duplicates = 0;
  uint64_t beyond_retention = 0;
  std::vector<uint64_t> latencies;
  std::vector<std::pair<uint64_t, const AuditedCall*>> listed;
  for (const auto& [id, c] : calls) {
    if (c.replies > 1) duplicates += c.replies - 1;
    replayed += c.replayed;
    if (c.stored > 1) stored_twice += c.stored - 1;
    assignments += c.responders.size();
    if (c.responders.size() > 1) {
      ++multi_responder;
      listed.emplace_back(id, &c);
    }
    if (c.answered) {
      ++answered;
      if (c.handler_error) ++handler_errors;
      latencies.push_back(c.replied_us > c.sent_us ? c.replied_us - c.sent_us : 0);
      if (c.replied_us > c.deadline_us) {
        ++late;
        listed.emplace_back(id, &c);
      }
    } else if (auto t = trimmed_before_us.find(c.reply_to);
               t != trimmed_before_us.end() && c.sent_us < t->second) {
      ++beyond_retention;  // its reply may have been trimmed: history the retention let go
    } else if (now > c.deadline_us) {
      ++timed_out;
      listed.emplace_back(id, &c);
    } else {
      ++waiting;
    }
  }
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    if (latencies.empty()) return uint64_t{0};
    size_t i = static_cast<size_t>(p * static_cast<double>(latencies.size() - 1) + 0.5);
    return latencies[std::min(i, latencies.size() - 1)];
  };

  out << "service " << service << " (" << request_queue << ", " << reply_queues.size()
      << " reply queues)\n";
  out << "requests " << calls.size() << "  answered " << answered << " (handler errors "
      << handler_errors << ")  answered late " << late << "  unanswered past deadline " << timed_out
      << "  still within deadline " << waiting << "  duplicate replies " << duplicates
      << "  malformed " << malformed << "\n";
  for (const auto& [id, c] : unstored) {
    if (c.responders.size() > 1) {
      ++multi_responder;
      listed.emplace_back(id, &c);
    }
  }
  out << "stored twice " << stored_twice << "  replies stored again (identical) " << replayed
      << "  handed to responders " << assignments + unstored_runs << " (" << unstored.size()
      << " with no stored request)  handed to more than one responder " << multi_responder << "\n";
  if (beyond_retention > 0 || !trimmed_before_us.empty()) {
    out << "retention: " << trimmed_before_us.size() << " reply queues trimmed, "
        << beyond_retention << " requests whose reply may have been trimmed (not counted)\n";
  }
  if (!latencies.empty()) {
    out << "latency p50 " << Micros(pct(0.50)) << "  p90 " << Micros(pct(0.90)) << "  p99 "
        << Micros(pct(0.99)) << "  p99.9 " << Micros(pct(0.999)) << "  max "
        << Micros(latencies.back()) << "\n";
  }
  size_t shown = 0;
  for (const auto& [id, c] : listed) {
    if (shown++ == limit) {
      out << "... " << listed.size() - limit << " more\n";
      break;
    }
    if (c->responders.size() > 1) {
      out << "TWO-RESPONDERS " << Hex(id) << "  offset " << c->offset << "  handed to "
          << c->responders.size() << " responders\n";
      continue;
    }
    out << (c->answered ? "LATE       " : "UNANSWERED ") << Hex(id) << "  offset " << c->offset
        << "  attempt " << c->attempt << "  reply-to " << c->reply_to << "  caller " << c->caller;
    if (c->answered) out << "  responder " << c->responder;
    out << "  deadline "
        << (c->answered ? "missed by " + Micros(c->replied_us - c->deadline_us)
                        : "passed " + Micros(now - c->deadline_us) + " ago")
        << "\n";
  }
  // Who called and who answered, as the broker stamped them ("-": an anonymous connection).
  std::map<std::string, uint64_t> by_caller, by_responder;
  for (const auto& [id, c] : calls) {
    ++by_caller[c.caller];
    if (c.answered) ++by_responder[c.responder];
  }
  auto tally = [&out](const char* what, const std::map<std::string, uint64_t>& counts) {
    out << what;
    for (const auto& [identity, n] : counts) out << "  " << identity << " " << n;
    out << "\n";
  };
  tally("callers", by_caller);
  tally("responders", by_responder);
  if (list_calls) {
    for (const auto& [id, c] : calls) {
      out << "CALL " << Hex(id) << "  offset " << c.offset << "  caller " << c.caller
          << "  responder " << (c.answered ? c.responder : "(none)") << "  ";
      if (c.answered) {
        out << (c.handler_error ? "handler-error" : "ok") << " in "
            << Micros(c.replied_us > c.sent_us ? c.replied_us - c.sent_us : 0) << "\n";
      } else {
        out << "unanswered\n";
      }
    }
  }
  // A request stored twice is not by itself a second execution: after a kill that kept the
  // request but lost its journal record, the retry is stored again and held for the same
  // responder. Two responders, or two different replies, are.
  bool clean = late == 0 && timed_out == 0 && duplicates == 0 && multi_responder == 0;
  if (verify) {
    std::vector<std::string> queues = {request_queue};
    queues.insert(queues.end(), reply_queues.begin(), reply_queues.end());
    // A queue an earlier audit saw is verified even when no request kept names it now.
    for (const auto& [q, head] : recorded) {
      if (std::find(queues.begin(), queues.end(), q) == queues.end()) queues.push_back(q);
    }
    uint64_t verified = 0, below_cut = 0, broken = 0;
    ChainHeads heads;
    for (const std::string& q : queues) {
      auto was = recorded.find(q);
      ChainVerdict v;
      s = VerifyChain(client, *key, q, was == recorded.end() ? UINT64_MAX : was->second.offset, &v);
      if (!s.ok()) {
        err << "audit: verifying " << q << ": " << s.ToString() << "\n";
        return 2;
      }
      verified += v.verified;
      below_cut += v.below_cut;
      if (v.first_bad.empty() && was != recorded.end()) {
        // A head the retention has since trimmed past cannot be compared: the anchor, made
        // with the key, vouches for the cut.
        const ChainHead& h = was->second;
        if (v.end < h.offset) {
          v.first_bad_offset = v.end;
          v.first_bad = "ends at " + std::to_string(v.end) + ", an earlier audit saw it end at " +
                        std::to_string(h.offset) + ": its newest messages removed, or the store " +
                        "rolled back";
        } else if (v.start <= h.offset && v.digest_at != h.digest) {
          v.first_bad_offset = h.offset;
          v.first_bad = "the chain no longer passes the head an earlier audit recorded at " +
                        std::to_string(h.offset) + ": rewritten or rolled back before it";
        }
      }
      if (!v.first_bad.empty()) {
        ++broken;
        out << "CHAIN-BROKEN " << q << "  offset " << v.first_bad_offset << "  " << v.first_bad
            << "\n";
      } else {
        heads[q] = ChainHead{v.end, v.head};
      }
    }
    out << "chain: " << verified << " stored messages verified in " << queues.size() << " queues, "
        << broken << " broken";
    if (below_cut > 0) out << ", " << below_cut << " below a trim anchor not verified";
    out << "\n";
    clean = clean && broken == 0;
    if (!heads_file.empty() && broken == 0) {
      // Only a clean chain becomes the next audit's baseline.
      if (Status h = SaveChainHeads(heads_file, heads); !h.ok()) {
        err << "audit: " << h.ToString() << "\n";
        return 2;
      }
      out << "heads: " << heads.size() << " queues' chain heads written to " << heads_file << "\n";
    }
  }
  return clean ? 0 : 1;
}

}  // namespace meshq::bridge
