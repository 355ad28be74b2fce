// Encoders and decoders of the broker's frame bodies.
#include "meshq/bridge/broker_protocol.h"

#include <algorithm>

#include "meshq/bridge/frame.h"
#include "meshq/bridge/wire.h"
#include "meshq/coding.h"

namespace meshq::bridge {
namespace {

Status Truncated(const char* what) { return Status::Corruption(std::string("truncated ") + what); }

// Bounds the vectors a decoder reserves by what the body can hold, so a forged count cannot make
// it allocate more than the body's size.
size_t ReserveFor(uint32_t count, size_t remaining, size_t min_entry) {
  return std::min<size_t>(count, remaining / min_entry);
}

}  // namespace

void EncodePutRequest(const PutRequest& request, uint8_t flags, std::string* body) {
  WireWriter w(body);
  w.Str16(request.queue);
  if (flags & kPutFlagRequireConsumers) w.Str16(request.group);
  w.U32(static_cast<uint32_t>(request.messages.size()));
  for (const PutMessage& m : request.messages) {
    w.U64(m.dedupe_id);
    w.Bytes32(m.payload);
  }
}

Status DecodePutRequest(std::string_view body, uint8_t flags, PutRequest* out) {
  WireReader r(body);
  out->group = {};
  out->messages.clear();
  uint32_t count = 0;
  if (!r.Str16(&out->queue)) return Truncated("PUT");
  if ((flags & kPutFlagRequireConsumers) && !r.Str16(&out->group)) return Truncated("PUT");
  if (!r.U32(&count)) return Truncated("PUT");
  out->messages.reserve(ReserveFor(count, r.remaining(), 12));
  for (uint32_t i = 0; i < count; ++i) {
    PutMessage m;
    if (!r.U64(&m.dedupe_id) || !r.Bytes32(&m.payload)) return Truncated("PUT");
    out->messages.push_back(m);
  }
  if (r.remaining() != 0) return Status::Corruption("PUT: trailing bytes");
  return Status::OK();
}

void EncodePutReply(const std::vector<PutResult>& results, std::string* body) {
  WireWriter w(body);
  w.U32(static_cast<uint32_t>(results.size()));
  for (const PutResult& r : results) {
    w.U8(static_cast<uint8_t>(r.outcome));
    w.U64(r.offset);
    if (r.outcome == PutOutcome::kReplied) {
      w.U64(r.reply_offset);
      w.Str16(r.reply_queue);
    }
  }
}

Status DecodePutReply(std::string_view body, std::vector<PutResult>* out) {
  WireReader r(body);
  out->clear();
  uint32_t count = 0;
  if (!r.U32(&count)) return Truncated("PUT reply");
  out->reserve(ReserveFor(count, r.remaining(), 9));
  for (uint32_t i = 0; i < count; ++i) {
    PutResult p;
    uint8_t outcome = 0;
    if (!r.U8(&outcome) || !r.U64(&p.offset)) return Truncated("PUT reply");
    if (outcome > static_cast<uint8_t>(PutOutcome::kReplied)) {
      return Status::Corruption("PUT reply: unknown outcome");
    }
    p.outcome = static_cast<PutOutcome>(outcome);
    if (p.outcome == PutOutcome::kReplied &&
        (!r.U64(&p.reply_offset) || !r.Str16(&p.reply_queue))) {
      return Truncated("PUT reply");
    }
    out->push_back(p);
  }
  if (r.remaining() != 0) return Status::Corruption("PUT reply: trailing bytes");
  return Status::OK();
}

void EncodeReadRequest(const ReadRequest& request, std::string* body) {
  WireWriter w(body);
  w.Str16(request.queue);
  w.U64(request.offset);
  w.U32(request.max_count);
  w.U32(request.wait_ms);
}

Status DecodeReadRequest(std::string_view body, ReadRequest* out) {
  WireReader r(body);
  if (!r.Str16(&out->queue) || !r.U64(&out->offset) || !r.U32(&out->max_count) ||
      !r.U32(&out->wait_ms)) {
    return Truncated("GET/FETCH");
  }
  if (r.remaining() != 0) return Status::Corruption("GET/FETCH: trailing bytes");
  return Status::OK();
}

void EncodeGroupFetchRequest(const GroupFetchRequest& request, std::string* body) {
  WireWriter w(body);
  w.Str16(request.queue);
  w.Str16(request.group);
  w.U32(request.max_count);
  w.U32(request.wait_ms);
  if (request.member != 0) w.U64(request.member);
}

Status DecodeGroupFetchRequest(std::string_view body, GroupFetchRequest* out) {
  WireReader r(body);
  if (!r.Str16(&out->queue) || !r.Str16(&out->group) || !r.U32(&out->max_count) ||
      !r.U32(&out->wait_ms)) {
    return Truncated("GROUP_FETCH");
  }
  out->member = 0;
  if (r.remaining() == 8) {
    if (!r.U64(&out->member) || out->member == 0) {
      return Status::Corruption("GROUP_FETCH: member id 0");
    }
  }
  if (r.remaining() != 0) return Status::Corruption("GROUP_FETCH: trailing bytes");
  return Status::OK();
}

void EncodeAckRequest(const AckRequest& request, std::string* body) {
  WireWriter w(body);
  w.Str16(request.queue);
  w.Str16(request.group);
  w.U32(static_cast<uint32_t>(request.offsets.size()));
  for (uint64_t o : request.offsets) w.U64(o);
}

Status DecodeAckRequest(std::string_view body, AckRequest* out) {
  WireReader r(body);
  out->offsets.clear();
  uint32_t count = 0;
  if (!r.Str16(&out->queue) || !r.Str16(&out->group) || !r.U32(&count)) return Truncated("ACK");
  out->offsets.reserve(ReserveFor(count, r.remaining(), 8));
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t o;
    if (!r.U64(&o)) return Truncated("ACK");
    out->offsets.push_back(o);
  }
  if (r.remaining() != 0) return Status::Corruption("ACK: trailing bytes");
  return Status::OK();
}

void BeginMessagesReply(uint64_t queue_size, std::string* body) {
  WireWriter w(body);
  w.U64(queue_size);
  w.U32(0);  // count, patched by FinishMessagesReply
}

void AppendMessage(const Message& message, std::string* body) {
  WireWriter w(body);
  w.U64(message.offset);
  w.U64(message.dedupe_id);
  w.U8(message.flags);
  w.Bytes32(message.payload);
}

void FinishMessagesReply(size_t begin, uint32_t count, std::string* body) {
  EncodeFixed32(body->data() + begin + 8, count);
}

Status DecodeMessagesReply(std::string_view body, MessagesReply* out) {
  WireReader r(body);
  out->messages.clear();
  uint32_t count = 0;
  if (!r.U64(&out->queue_size) || !r.U32(&count)) return Truncated("MESSAGES");
  out->messages.reserve(ReserveFor(count, r.remaining(), 21));
  for (uint32_t i = 0; i < count; ++i) {
    Message m;
    if (!r.U64(&m.offset) || !r.U64(&m.dedupe_id) || !r.U8(&m.flags) || !r.Bytes32(&m.payload)) {
      return Truncated("MESSAGES");
    }
    out->messages.push_back(m);
  }
  if (r.remaining() != 0) return Status::Corruption("MESSAGES: trailing bytes");
  return Status::OK();
}

void EncodeStatsReply(const BrokerStats& stats, std::string* body) {
  WireWriter w(body);
  w.U32(static_cast<uint32_t>(stats.size()));
  for (const auto& [name, value] : stats) {
    w.Str16(name);
    w.U64(value);
  }
}

Status DecodeStatsReply(std::string_view body, BrokerStats* out) {
  WireReader r(body);
  out->clear();
  uint32_t count = 0;
  if (!r.U32(&count)) return Truncated("STATS");
  out->reserve(ReserveFor(count, r.remaining(), 10));
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view name;
    uint64_t value = 0;
    if (!r.Str16(&name) || !r.U64(&value)) return Truncated("STATS");
    out->emplace_back(std::string(name), value);
  }
  if (r.remaining() != 0) return Status::Corruption("STATS: trailing bytes");
  return Status::OK();
}

uint64_t StatValue(const BrokerStats& stats, std::string_view name, uint64_t missing) {
  for (const auto& [n, v] : stats) {
    if (n == name) return v;
  }
  return missing;
}

}  // namespace meshq::bridge
