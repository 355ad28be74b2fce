// The RPC envelopes stored in the broker's queues: a request (in the service's request queue
// "rpc.req.<service>") and its reply (in the requester's reply queue "rpc.rep.<client id>").
// Both carry the correlation id (= the request id, also the broker dedupe id), the trace id and
// the deadline, so the stored queues alone are enough to audit the calls.
// Times are microseconds since the Unix epoch (system clock). Layouts: docs/broker-protocol.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "meshq/status.h"

namespace meshq::bridge {

inline constexpr uint8_t kRpcRequestKind = 1;
inline constexpr uint8_t kRpcReplyKind = 2;
// The consumer group every RPC queue is consumed with.
inline constexpr std::string_view kRpcGroup = "rpc";

std::string RequestQueueName(std::string_view service);
std::string ReplyQueueName(std::string_view client_id);

struct RpcRequest {
  uint64_t request_id = 0;  // correlation id; the same for every attempt of one call
  uint64_t trace_id = 0;
  uint64_t deadline_us = 0;
  uint64_t sent_us = 0;  // when the first attempt was sent
  uint32_t attempt = 1;
  std::string_view reply_to;  // the requester's reply queue
  std::string_view method;
  std::string_view payload;
};

enum class ReplyStatus : uint8_t {
  kOk = 0,
  kHandlerError = 1,  // the handler reported an error; payload is its message
};

struct RpcReply {
  uint64_t request_id = 0;
  uint64_t trace_id = 0;
  uint64_t deadline_us = 0;
  uint64_t replied_us = 0;
  ReplyStatus status = ReplyStatus::kOk;
  std::string_view payload;
};

// Layout: kind u8, request_id, trace_id, deadline_us, sent_us (u64 each), attempt u32, reply_to
// and method (u16 length + bytes), payload (u32 length + bytes); little-endian.
void EncodeRpcRequest(const RpcRequest& request, std::string* out);
// Where `attempt` sits in an encoded request, so a retry rewrites it in place (a little-endian
// u32) instead of encoding the request again.
inline constexpr size_t kRpcRequestAttemptOffset =
    sizeof(kRpcRequestKind) + sizeof(RpcRequest::request_id) + sizeof(RpcRequest::trace_id) +
    sizeof(RpcRequest::deadline_us) + sizeof(RpcRequest::sent_us);
// Corruption for truncated input or another kind; views point into `in`.
Status DecodeRpcRequest(std::string_view in, RpcRequest* out);
void EncodeRpcReply(const RpcReply& reply, std::string* out);
Status DecodeRpcReply(std::string_view in, RpcReply* out);

// Microseconds since the Unix epoch, now.
uint64_t UnixMicros();

// The next request id of a requester: splitmix64 over `state` (seed it randomly), so ids are
// unique per requester and unpredictable across requesters. Never 0.
inline uint64_t NextRequestId(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return z ? z : 1;
}

}  // namespace meshq::bridge
