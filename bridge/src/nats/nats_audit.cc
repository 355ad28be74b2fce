// The NATS audit: direct gets through the streams, one subject filter each.
#include "nats/nats_audit.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <vector>

#include "meshq/bridge/rpc_message.h"
#include "nats/nats_link.h"

namespace meshq::bridge::nats {
namespace {

struct Call {
  uint64_t sequence = 0;
  uint64_t sent_us = 0;
  uint64_t deadline_us = 0;
  uint32_t attempt = 0;
  std::string reply_to;
  uint32_t stored = 0;
  uint32_t replies = 0;  // distinct replies: a second one is a second execution
  uint32_t replayed = 0;
  std::string first_reply;
  uint64_t replied_us = 0;
  bool handler_error = false;
};

// Calls `each(data, sequence)` for every message of `stream` whose subject is `subject`, or
// starts with it when it ends in '.', in order. Read from the stream's leader (a replica that
// was down may still be catching up), one message at a time.
template <typename Fn>
natsStatus ForEach(jsCtx* js, const char* stream, const std::string& subject, Fn each) {
  jsStreamInfo* si = nullptr;
  natsStatus s = js_GetStreamInfo(&si, js, stream, nullptr, nullptr);
  if (s != NATS_OK) return s;
  const uint64_t first = si->State.FirstSeq, last = si->State.LastSeq;
  jsStreamInfo_Destroy(si);
  const bool prefix = !subject.empty() && subject.back() == '.';
  for (uint64_t seq = first; seq != 0 && seq <= last; ++seq) {
    natsMsg* msg = nullptr;
    s = js_GetMsg(&msg, js, stream, seq, nullptr, nullptr);
    if (s == NATS_NOT_FOUND) continue;  // deleted (its age passed)
    if (s != NATS_OK) return s;
    const std::string_view got = natsMsg_GetSubject(msg);
    if (prefix ? got.substr(0, subject.size()) == subject : got == subject) {
      each(std::string_view(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg))),
           seq);
    }
    natsMsg_Destroy(msg);
  }
  return NATS_OK;
}

std::string Ms(uint64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f ms", static_cast<double>(us) / 1000.0);
  return buf;
}

}  // namespace

int RunNatsAudit(const NatsConfig& config, const std::string& service, uint64_t since_us,
                 size_t limit, std::ostream& out, std::ostream& err) {
  natsOptions* opts = nullptr;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  std::vector<const char*> servers;
  for (const std::string& s : config.servers) servers.push_back(s.c_str());
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) {
    s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
  }
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 3000);
  if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s == NATS_OK) s = natsConnection_JetStream(&js, nc, nullptr);
  if (s != NATS_OK) {
    err << "audit: " << config.servers.front() << ": " << natsStatus_GetText(s) << "\n";
    natsConnection_Destroy(nc);
    return 2;
  }

  std::map<uint64_t, Call> calls;
  uint64_t malformed = 0;
  s = ForEach(js, kRequestStream, RequestSubject(service),
              [&](std::string_view data, uint64_t sequence) {
                RpcRequest r;
                if (!DecodeRpcRequest(data, &r).ok()) return ++malformed, void();
                if (r.sent_us < since_us) return;
                Call& c = calls[r.request_id];
                if (++c.stored > 1) return;
                c.sequence = sequence;
                c.sent_us = r.sent_us;
                c.deadline_us = r.deadline_us;
                c.attempt = r.attempt;
                c.reply_to = std::string(r.reply_to);
              });
  // One pass over the reply stream: a reply counts for the call with its request id.
  std::vector<std::string> prefixes;  // the requesters that called this service
  for (const auto& [id, c] : calls) prefixes.push_back(c.reply_to);
  std::sort(prefixes.begin(), prefixes.end());
  prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
  if (s == NATS_OK && !calls.empty()) {
    s = ForEach(js, kReplyStream, "rpc.rep.", [&](std::string_view data, uint64_t) {
      RpcReply r;
      if (!DecodeRpcReply(data, &r).ok()) return ++malformed, void();
      auto it = calls.find(r.request_id);
      if (it == calls.end()) return;
      Call& c = it->second;
      if (c.replies > 0 && data == c.first_reply) return ++c.replayed, void();
      if (++c.replies == 1) {
        c.first_reply = std::string(data);
        c.replied_us = r.replied_us;
        c.handler_error = r.status != ReplyStatus::kOk;
      }
    });
  }
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  if (s != NATS_OK) {
    err << "audit: reading the streams: " << natsStatus_GetText(s) << "\n";
    return 2;
  }

  const uint64_t now = UnixMicros();
  uint64_t answered = 0, handler_errors = 0, late = 0, timed_out = 0, waiting = 0;
  uint64_t duplicates = 0, stored_twice = 0, replayed = 0;
  std::vector<uint64_t> latencies;
  std::vector<std::pair<uint64_t, const Call*>> listed;
  for (const auto& [id, c] : calls) {
    if (c.replies > 1) duplicates += c.replies - 1;
    if (c.stored > 1) stored_twice += c.stored - 1;
    replayed += c.replayed;
    if (c.replies > 0) {
      ++answered;
      if (c.handler_error) ++handler_errors;
      latencies.push_back(c.replied_us > c.sent_us ? c.replied_us - c.sent_us : 0);
      if (c.replied_us > c.deadline_us) {
        ++late;
        listed.emplace_back(id, &c);
      }
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
  out << "service " << service << " (NATS " << kRequestStream << " " << RequestSubject(service)
      << ", " << prefixes.size() << " reply subjects)\n";
  out << "requests " << calls.size() << "  answered " << answered << " (handler errors "
      << handler_errors << ")  answered late " << late << "  unanswered past deadline " << timed_out
      << "  still within deadline " << waiting << "  duplicate replies " << duplicates
      << "  malformed " << malformed << "\n";
  out << "stored twice " << stored_twice << "  replies stored again (identical) " << replayed
      << "\n";
  if (!latencies.empty()) {
    out << "latency p50 " << Ms(pct(0.50)) << "  p90 " << Ms(pct(0.90)) << "  p99 " << Ms(pct(0.99))
        << "  p99.9 " << Ms(pct(0.999)) << "  max " << Ms(latencies.back()) << "\n";
  }
  size_t shown = 0;
  for (const auto& [id, c] : listed) {
    if (shown++ == limit) {
      out << "... " << listed.size() - limit << " more\n";
      break;
    }
    out << (c->replies ? "LATE       " : "UNANSWERED ") << HexId(id) << "  sequence " << c->sequence
        << "  attempt " << c->attempt << "  reply-to " << c->reply_to << "  deadline "
        << (c->replies ? "missed by " + Ms(c->replied_us - c->deadline_us)
                       : "passed " + Ms(now - c->deadline_us) + " ago")
        << "\n";
  }
  return late == 0 && timed_out == 0 && duplicates == 0 && stored_twice == 0 ? 0 : 1;
}

}  // namespace meshq::bridge::nats
