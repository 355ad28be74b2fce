// Fuzz target: the broker's wire decoders — the frame splitter (DecodeFrame) over a pipelined
// byte stream, every request/reply body decoder for the frame's type, and the RPC message
// decoders, the broker's dedupe journal records, its stored-message envelope and its audit chain
// anchors. Never a crash; a decoded frame lies inside the input and re-encodes to the same frame;
// a decoded journal record, envelope or anchor re-encodes to its bytes.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "audit_chain.h"
#include "dedupe_journal.h"
#include "fuzz_check.h"
#include "meshq/bridge/broker_protocol.h"
#include "meshq/bridge/frame.h"
#include "meshq/bridge/rpc_message.h"

namespace {

using namespace meshq::bridge;

void DecodeBody(const Frame& f) {
  // The body decoders are pure over bytes: each may fail, none may crash.
  PutRequest put;
  std::vector<PutResult> put_results;
  ReadRequest read;
  GroupFetchRequest group;
  AckRequest ack;
  MessagesReply messages;
  switch (f.header.type) {
    case FrameType::kPut:
      if (DecodePutRequest(f.body, f.header.flags, &put).ok()) {
        std::string again;
        EncodePutRequest(put, f.header.flags, &again);
        PutRequest put2;
        FUZZ_CHECK(DecodePutRequest(again, f.header.flags, &put2).ok());
      }
      break;
    case FrameType::kPutReply:
      (void)DecodePutReply(f.body, &put_results);
      break;
    case FrameType::kGet:
    case FrameType::kFetch:
      (void)DecodeReadRequest(f.body, &read);
      break;
    case FrameType::kGroupFetch:
      (void)DecodeGroupFetchRequest(f.body, &group);
      break;
    case FrameType::kAck:
      (void)DecodeAckRequest(f.body, &ack);
      break;
    case FrameType::kMessages:
      (void)DecodeMessagesReply(f.body, &messages);
      break;
    case FrameType::kStatsReply: {
      BrokerStats stats;
      if (DecodeStatsReply(f.body, &stats).ok()) {
        std::string again;
        EncodeStatsReply(stats, &again);
        FUZZ_CHECK(again == f.body);
      }
      break;
    }
    default:
      break;
  }
  RpcRequest request;
  if (DecodeRpcRequest(f.body, &request).ok()) {
    std::string again;
    EncodeRpcRequest(request, &again);
    RpcRequest request2;
    FUZZ_CHECK(DecodeRpcRequest(again, &request2).ok());
  }
  RpcReply reply;
  (void)DecodeRpcReply(f.body, &reply);
  JournalRecord record;
  if (DecodeJournalRecord(f.body, &record)) {
    std::string again;
    EncodeJournalRecord(record, &again);
    FUZZ_CHECK(again == f.body);
  }
  StoredMessage stored;
  if (DecodeStoredMessage(f.body, &stored)) {
    FUZZ_CHECK(Inside(stored.identity, f.body) && Inside(stored.digest, f.body) &&
               Inside(stored.payload, f.body));
    std::string again;
    EncodeStoredMessage(stored, &again);
    FUZZ_CHECK(again == f.body);
  }
  ChainAnchor anchor;
  if (DecodeChainAnchor(f.body, &anchor)) {
    std::string again;
    EncodeChainAnchor(anchor, &again);
    FUZZ_CHECK(again == f.body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (int frames = 0; frames < 64 && !in.empty(); ++frames) {
    meshq::DecodeResult<Frame> r = DecodeFrame(in, 1u << 16);
    if (!r.ok()) break;
    const Frame& f = r.value;
    FUZZ_CHECK(r.consumed == kFrameHeaderSize + f.header.body_length);
    FUZZ_CHECK(r.consumed <= in.size());
    FUZZ_CHECK(f.body.data() == in.data() + kFrameHeaderSize);
    FUZZ_CHECK(IsKnownFrameType(static_cast<uint8_t>(f.header.type)));
    std::string again;
    AppendFrame(f.header, f.body, &again);
    meshq::DecodeResult<Frame> r2 = DecodeFrame(again, 1u << 16);
    FUZZ_CHECK(r2.ok() && r2.consumed == again.size());
    FUZZ_CHECK(r2.value.header.type == f.header.type &&
               r2.value.header.request_id == f.header.request_id &&
               r2.value.header.flags == f.header.flags && r2.value.body == f.body);
    DecodeBody(f);
    in.remove_prefix(r.consumed);
  }
  return 0;
}
