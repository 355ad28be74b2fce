// The NATS audit: each message read through its stream's leader, one subject filter each.
#include "nats/nats_audit.h"

#include <algorithm>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <thread>
#include <vector>

#include "meshq/bridge/rpc_message.h"
#include "nats/nats_link.h"

namespace meshq::bridge::nats {
namespace {

namespace beast = boost::beast;
namespace json = boost::json;

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

// A member of a stream's group that has no leader (one that just rejoined, a group electing)
// answers this; asked again.
constexpr int64_t kNoLeaderErr = 10008;
constexpr int64_t kNoMessageFoundErr = 10037;
constexpr int64_t kRequestTimeoutMs = 2000;
constexpr auto kRetryEvery = std::chrono::milliseconds(100);
// How long one message's read may keep failing (no leader, timeouts, no responders).
constexpr auto kRetryFor = std::chrono::seconds(15);

std::string Unbase64(std::string_view in) {
  std::string out(beast::detail::base64::decoded_size(in.size()), '\0');
  out.resize(beast::detail::base64::decode(out.data(), in.data(), in.size()).first);
  return out;
}

// Calls `each(data, sequence)` for every message of `stream` whose subject matches `filter` (a
// subject, or a filter with wildcards), in order. Each is read by STREAM.MSG.GET, which the
// stream's leader answers: stream info is not read, as a member that just rejoined may answer
// that from its own state, not caught up yet, and the read would end early. Returns "" or
// why the read did not reach the end.
template <typename Fn>
std::string ForEach(natsConnection* nc, const char* stream, const std::string& filter, Fn each) {
  const std::string api = std::string("$JS.API.STREAM.MSG.GET.") + stream;
  uint64_t seq = 1;
  auto failing_since = std::chrono::steady_clock::time_point::max();
  std::string last_error;
  for (;;) {
    const std::string body = json::serialize(json::object{{"seq", seq}, {"next_by_subj", filter}});
    natsMsg* reply = nullptr;
    natsStatus s = natsConnection_Request(&reply, nc, api.c_str(), body.data(),
                                          static_cast<int>(body.size()), kRequestTimeoutMs);
    bool retry = false;
    if (s == NATS_OK) {
      json::value v;
      boost::system::error_code ec;
      v = json::parse(std::string_view(natsMsg_GetData(reply),
                                       static_cast<size_t>(natsMsg_GetDataLength(reply))),
                      ec);
      natsMsg_Destroy(reply);
      const json::object* o = ec ? nullptr : v.if_object();
      if (o == nullptr) return stream + std::string(": an answer that is not JSON");
      if (const json::value* e = o->if_contains("error")) {
        const json::object* eo = e->if_object();
        const json::value* code = eo ? eo->if_contains("err_code") : nullptr;
        const int64_t err = code && code->is_int64() ? code->as_int64() : 0;
        if (err == kNoMessageFoundErr) return "";
        const json::value* d = eo ? eo->if_contains("description") : nullptr;
        last_error = d && d->is_string() ? std::string(d->as_string()) : json::serialize(*e);
        if (err != kNoLeaderErr) return stream + std::string(": ") + last_error;
        retry = true;
      } else {
        const json::value* m = o->if_contains("message");
        const json::object* mo = m ? m->if_object() : nullptr;
        const json::value* got = mo ? mo->if_contains("seq") : nullptr;
        const json::value* data = mo ? mo->if_contains("data") : nullptr;
        if (got == nullptr || !got->is_number()) return stream + std::string(": no sequence");
        const uint64_t at = got->to_number<uint64_t>();
        if (at < seq) return stream + std::string(": an answer out of order");
        each(data && data->is_string() ? Unbase64(data->as_string()) : std::string(), at);
        seq = at + 1;
        failing_since = std::chrono::steady_clock::time_point::max();
        continue;
      }
    } else if (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS) {
      last_error = natsStatus_GetText(s);
      retry = true;
    } else {
      return stream + std::string(": ") + natsStatus_GetText(s);
    }
    const auto now = std::chrono::steady_clock::now();
    if (failing_since == std::chrono::steady_clock::time_point::max()) failing_since = now;
    if (!retry || now - failing_since >= kRetryFor) {
      return stream + std::string(": at sequence ") + std::to_string(seq) + ": " + last_error;
    }
    std::this_thread::sleep_for(kRetryEvery);
  }
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
  std::vector<const char*> servers;
  for (const std::string& s : config.servers) servers.push_back(s.c_str());
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) {
    s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
  }
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 3000);
  if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    err << "audit: " << config.servers.front() << ": " << natsStatus_GetText(s) << "\n";
    natsConnection_Destroy(nc);
    return 2;
  }

  std::map<uint64_t, Call> calls;
  uint64_t malformed = 0;
  std::string error = ForEach(nc, kRequestStream, RequestSubject(service),
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
  // The replies of each requester that called this service (the server filters them by
  // subject): a reply counts for the call with its request id.
  std::vector<std::string> prefixes;
  for (const auto& [id, c] : calls) prefixes.push_back(c.reply_to);
  std::sort(prefixes.begin(), prefixes.end());
  prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
  for (const std::string& prefix : prefixes) {
    if (!error.empty()) break;
    if (!ValidSubjectName(prefix)) continue;  // no reply can be stored under it
    error = ForEach(nc, kReplyStream, prefix + ".*", [&](std::string_view data, uint64_t) {
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
  natsConnection_Destroy(nc);
  if (!error.empty()) {
    err << "audit: reading the streams: " << error << "\n";
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
