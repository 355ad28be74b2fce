// RPC request/reply envelope codecs.
#include "meshq/bridge/rpc_message.h"

#include <chrono>

#include "meshq/bridge/wire.h"

namespace meshq::bridge {

std::string RequestQueueName(std::string_view service) { return "rpc.req." + std::string(service); }

std::string ReplyQueueName(std::string_view client_id) {
  return "rpc.rep." + std::string(client_id);
}

uint64_t UnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void EncodeRpcRequest(const RpcRequest& r, std::string* out) {
  WireWriter w(out);
  w.U8(kRpcRequestKind);
  w.U64(r.request_id);
  w.U64(r.trace_id);
  w.U64(r.deadline_us);
  w.U64(r.sent_us);
  w.U32(r.attempt);
  w.Str16(r.reply_to);
  w.Str16(r.method);
  w.Bytes32(r.payload);
}

Status DecodeRpcRequest(std::string_view in, RpcRequest* out) {
  WireReader r(in);
  uint8_t kind = 0;
  if (!r.U8(&kind)) return Status::Corruption("truncated RPC request");
  if (kind != kRpcRequestKind) return Status::Corruption("not an RPC request");
  if (!r.U64(&out->request_id) || !r.U64(&out->trace_id) || !r.U64(&out->deadline_us) ||
      !r.U64(&out->sent_us) || !r.U32(&out->attempt) || !r.Str16(&out->reply_to) ||
      !r.Str16(&out->method) || !r.Bytes32(&out->payload)) {
    return Status::Corruption("truncated RPC request");
  }
  if (r.remaining() != 0) return Status::Corruption("RPC request: trailing bytes");
  return Status::OK();
}

void EncodeRpcReply(const RpcReply& r, std::string* out) {
  WireWriter w(out);
  w.U8(kRpcReplyKind);
  w.U64(r.request_id);
  w.U64(r.trace_id);
  w.U64(r.deadline_us);
  w.U64(r.replied_us);
  w.U8(static_cast<uint8_t>(r.status));
  w.Bytes32(r.payload);
}

Status DecodeRpcReply(std::string_view in, RpcReply* out) {
  WireReader r(in);
  uint8_t kind = 0, status = 0;
  if (!r.U8(&kind)) return Status::Corruption("truncated RPC reply");
  if (kind != kRpcReplyKind) return Status::Corruption("not an RPC reply");
  if (!r.U64(&out->request_id) || !r.U64(&out->trace_id) || !r.U64(&out->deadline_us) ||
      !r.U64(&out->replied_us) || !r.U8(&status) || !r.Bytes32(&out->payload)) {
    return Status::Corruption("truncated RPC reply");
  }
  if (status > static_cast<uint8_t>(ReplyStatus::kHandlerError)) {
    return Status::Corruption("RPC reply: unknown status");
  }
  out->status = static_cast<ReplyStatus>(status);
  if (r.remaining() != 0) return Status::Corruption("RPC reply: trailing bytes");
  return Status::OK();
}

}  // namespace meshq::bridge
