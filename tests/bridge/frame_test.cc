// Broker frame decoder and body codecs as pure functions over bytes: whole frames, truncation
// at every byte, oversized and unknown frames, round trips of every body and RPC envelope.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "meshq/bridge/broker_client.h"
#include "meshq/bridge/broker_protocol.h"
#include "meshq/bridge/frame.h"
#include "meshq/bridge/rpc_message.h"

namespace meshq::bridge {
namespace {

std::string MakeFrame(FrameType type, uint64_t rid, std::string_view body, uint8_t flags = 0) {
  std::string out;
  FrameHeader h;
  h.type = type;
  h.flags = flags;
  h.request_id = rid;
  AppendFrame(h, body, &out);
  return out;
}

TEST(FrameDecoder, DecodesOneFrameAndReportsWhatItConsumed) {
  std::string bytes = MakeFrame(FrameType::kPut, 42, "hello", kPutFlagFlush) + "extra";
  DecodeResult<Frame> r = DecodeFrame(bytes);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.consumed, kFrameHeaderSize + 5);
  EXPECT_EQ(r.value.header.type, FrameType::kPut);
  EXPECT_EQ(r.value.header.flags, kPutFlagFlush);
  EXPECT_EQ(r.value.header.request_id, 42u);
  EXPECT_EQ(r.value.body, "hello");
}

TEST(FrameDecoder, EmptyBodyIsAFrame) {
  std::string bytes = MakeFrame(FrameType::kPing, 7, "");
  DecodeResult<Frame> r = DecodeFrame(bytes);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.consumed, kFrameHeaderSize);
  EXPECT_TRUE(r.value.body.empty());
}

TEST(FrameDecoder, TruncatedAtEveryByteNeedsMore) {
  std::string bytes = MakeFrame(FrameType::kGet, 9, std::string(100, 'x'));
  for (size_t n = 0; n < bytes.size(); ++n) {
    DecodeResult<Frame> r = DecodeFrame(std::string_view(bytes).substr(0, n));
    EXPECT_TRUE(r.need_more()) << "prefix of " << n << " bytes";
  }
  EXPECT_TRUE(DecodeFrame(bytes).ok());
}

TEST(FrameDecoder, SplitsABackToBackStream) {
  std::string stream;
  for (uint64_t i = 1; i <= 5; ++i) stream += MakeFrame(FrameType::kPing, i, std::string(i, 'a'));
  std::string_view rest = stream;
  for (uint64_t i = 1; i <= 5; ++i) {
    DecodeResult<Frame> r = DecodeFrame(rest);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value.header.request_id, i);
    EXPECT_EQ(r.value.body.size(), i);
    rest.remove_prefix(r.consumed);
  }
  EXPECT_TRUE(rest.empty());
}

TEST(FrameDecoder, OversizedIsAnErrorAsSoonAsTheHeaderShowsIt) {
  std::string header = MakeFrame(FrameType::kPut, 1, "").substr(0, kFrameHeaderSize);
  uint32_t too_big = kMaxFrameBody + 1;
  std::memcpy(header.data(), &too_big, 4);
  EXPECT_TRUE(DecodeFrame(header).error.IsInvalidArgument());
  // A custom limit applies too, and the limit itself is allowed.
  std::string bytes = MakeFrame(FrameType::kPut, 1, std::string(10, 'x'));
  EXPECT_TRUE(DecodeFrame(bytes, 9).error.IsInvalidArgument());
  EXPECT_TRUE(DecodeFrame(bytes, 10).ok());
}

TEST(FrameDecoder, UnknownTypeIsAnError) {
  std::string bytes = MakeFrame(FrameType::kPing, 1, "x");
  for (int t : {0x00, 0x09, 0x42, 0x80, 0x83, 0xFE}) {
    bytes[4] = static_cast<char>(t);
    EXPECT_TRUE(DecodeFrame(bytes).error.IsCorruption()) << "type " << t;
  }
}

TEST(BrokerProtocol, PutRoundTripsWithAndWithoutGroup) {
  const std::string big(300, 'z');
  PutRequest in{"orders", "workers", {{0, "a"}, {77, ""}, {5, big}}};
  for (uint8_t flags : {uint8_t{0}, kPutFlagRequireConsumers}) {
    std::string body;
    EncodePutRequest(in, flags, &body);
    PutRequest out;
    ASSERT_TRUE(DecodePutRequest(body, flags, &out).ok());
    EXPECT_EQ(out.queue, "orders");
    EXPECT_EQ(out.group, flags ? "workers" : "");
    ASSERT_EQ(out.messages.size(), 3u);
    EXPECT_EQ(out.messages[1].dedupe_id, 77u);
    EXPECT_EQ(out.messages[2].payload, big);
  }
}

// Every strict prefix of a valid body must decode to an error, never to a shorter message.
template <typename Decode>
void ExpectEveryPrefixTruncated(const std::string& body, Decode decode) {
  ASSERT_TRUE(decode(body).ok());
  for (size_t n = 0; n < body.size(); ++n) {
    Status s = decode(std::string_view(body).substr(0, n));
    EXPECT_TRUE(s.IsCorruption()) << "prefix " << n << ": " << s.ToString();
  }
  EXPECT_TRUE(decode(body + "!").IsCorruption()) << "trailing byte accepted";
}

TEST(BrokerProtocol, TruncatedBodiesAreCorruptionAtEveryByte) {
  std::string body;
  EncodePutRequest({"q", "g", {{1, "ab"}, {2, "cd"}}}, kPutFlagRequireConsumers, &body);
  ExpectEveryPrefixTruncated(body, [](std::string_view b) {
    PutRequest r;
    return DecodePutRequest(b, kPutFlagRequireConsumers, &r);
  });

  body.clear();
  std::vector<PutResult> results(2);
  results[1] = {PutOutcome::kReplied, 3, 9, "rpc.rep.c"};
  EncodePutReply(results, &body);
  ExpectEveryPrefixTruncated(body, [](std::string_view b) {
    std::vector<PutResult> r;
    return DecodePutReply(b, &r);
  });

  body.clear();
  EncodeReadRequest({"queue", 5, 10, 100}, &body);
  ExpectEveryPrefixTruncated(body, [](std::string_view b) {
    ReadRequest r;
    return DecodeReadRequest(b, &r);
  });

  body.clear();
  EncodeGroupFetchRequest({"queue", "group", 10, 100}, &body);
  ExpectEveryPrefixTruncated(body, [](std::string_view b) {
    GroupFetchRequest r;
    return DecodeGroupFetchRequest(b, &r);
  });

  body.clear();
  EncodeAckRequest({"queue", "group", {1, 2, 3}}, &body);
  ExpectEveryPrefixTruncated(body, [](std::string_view b) {
    AckRequest r;
    return DecodeAckRequest(b, &r);
  });

  body.clear();
  BeginMessagesReply(12, &body);
  AppendMessage({4, 99, kMessageFlagReply, "payload"}, &body);
  AppendMessage({5, 0, 0, ""}, &body);
  FinishMessagesReply(0, 2, &body);
  ExpectEveryPrefixTruncated(body, [](std::string_view b) {
    MessagesReply r;
    return DecodeMessagesReply(b, &r);
  });
}

TEST(BrokerProtocol, MessagesReplyRoundTrips) {
  std::string body = "prefix";
  BeginMessagesReply(12, &body);
  AppendMessage({4, 99, kMessageFlagReply, "payload"}, &body);
  AppendMessage({5, 0, 0, ""}, &body);
  FinishMessagesReply(6, 2, &body);
  MessagesReply r;
  ASSERT_TRUE(DecodeMessagesReply(std::string_view(body).substr(6), &r).ok());
  EXPECT_EQ(r.queue_size, 12u);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].offset, 4u);
  EXPECT_EQ(r.messages[0].dedupe_id, 99u);
  EXPECT_EQ(r.messages[0].flags, kMessageFlagReply);
  EXPECT_EQ(r.messages[0].payload, "payload");
  EXPECT_EQ(r.messages[1].offset, 5u);
}

TEST(BrokerProtocol, StatsReplyRoundTripsAndRejectsTruncation) {
  const BrokerStats in = {{"index_bytes", 123456789012ull}, {"queues", 0}, {"x", ~0ull}};
  std::string body;
  EncodeStatsReply(in, &body);
  BrokerStats out;
  ASSERT_TRUE(DecodeStatsReply(body, &out).ok());
  EXPECT_EQ(out, in);
  EXPECT_EQ(StatValue(out, "index_bytes"), 123456789012ull);
  EXPECT_EQ(StatValue(out, "absent", 7), 7u);
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_TRUE(DecodeStatsReply(std::string_view(body).substr(0, n), &out).IsCorruption()) << n;
  }
  EXPECT_TRUE(DecodeStatsReply(body + "z", &out).IsCorruption());
}

TEST(BrokerProtocol, ForgedCountDoesNotOverAllocate) {
  std::string body;
  EncodeAckRequest({"q", "g", {}}, &body);
  uint32_t huge = 0xFFFFFFFF;
  std::memcpy(body.data() + body.size() - 4, &huge, 4);
  AckRequest r;
  EXPECT_TRUE(DecodeAckRequest(body, &r).IsCorruption());
}

TEST(RpcMessage, RequestAndReplyRoundTripAndRejectTruncation) {
  RpcRequest req{1234, 55, 1000000, 999000, 3, "rpc.rep.client-1", "hash", "hello"};
  std::string bytes;
  EncodeRpcRequest(req, &bytes);
  RpcRequest got;
  ASSERT_TRUE(DecodeRpcRequest(bytes, &got).ok());
  EXPECT_EQ(got.request_id, 1234u);
  EXPECT_EQ(got.trace_id, 55u);
  EXPECT_EQ(got.deadline_us, 1000000u);
  EXPECT_EQ(got.sent_us, 999000u);
  EXPECT_EQ(got.attempt, 3u);
  EXPECT_EQ(got.reply_to, "rpc.rep.client-1");
  EXPECT_EQ(got.method, "hash");
  EXPECT_EQ(got.payload, "hello");
  ExpectEveryPrefixTruncated(bytes, [](std::string_view b) {
    RpcRequest r;
    return DecodeRpcRequest(b, &r);
  });

  RpcReply rep{1234, 55, 1000000, 999500, ReplyStatus::kHandlerError, "boom"};
  bytes.clear();
  EncodeRpcReply(rep, &bytes);
  RpcReply got_reply;
  ASSERT_TRUE(DecodeRpcReply(bytes, &got_reply).ok());
  EXPECT_EQ(got_reply.status, ReplyStatus::kHandlerError);
  EXPECT_EQ(got_reply.payload, "boom");
  ExpectEveryPrefixTruncated(bytes, [](std::string_view b) {
    RpcReply r;
    return DecodeRpcReply(b, &r);
  });
  // A reply is not a request.
  EXPECT_TRUE(DecodeRpcRequest(bytes, &got).IsCorruption());
}

// RpcClient's retries rewrite the attempt in place at kRpcRequestAttemptOffset.
TEST(RpcMessage, AttemptSitsAtItsExportedOffset) {
  RpcRequest req{~0ull, ~0ull, ~0ull, ~0ull, 0x0a0b0c0d, "rpc.rep.c", "hash", "hi"};
  std::string bytes;
  EncodeRpcRequest(req, &bytes);
  ASSERT_GE(bytes.size(), kRpcRequestAttemptOffset + 4);
  uint32_t at_offset = 0;
  std::memcpy(&at_offset, bytes.data() + kRpcRequestAttemptOffset, sizeof(at_offset));
  EXPECT_EQ(at_offset, 0x0a0b0c0du);

  const uint32_t retry = 7;
  std::memcpy(bytes.data() + kRpcRequestAttemptOffset, &retry, sizeof(retry));
  RpcRequest got;
  ASSERT_TRUE(DecodeRpcRequest(bytes, &got).ok());
  EXPECT_EQ(got.attempt, retry);
  EXPECT_EQ(got.request_id, req.request_id);
  EXPECT_EQ(got.sent_us, req.sent_us);
  EXPECT_EQ(got.reply_to, req.reply_to);
}

TEST(BrokerAddress, Parses) {
  BrokerAddress a;
  ASSERT_TRUE(ParseBrokerAddress("127.0.0.1:9000", &a));
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 9000);
  ASSERT_TRUE(ParseBrokerAddress("9001", &a));
  EXPECT_EQ(a.port, 9001);
  EXPECT_FALSE(ParseBrokerAddress("host:", &a));
  EXPECT_FALSE(ParseBrokerAddress("host:70000", &a));
  EXPECT_FALSE(ParseBrokerAddress("host:12x", &a));
}

TEST(PutDurability, NamesParseBackAndMapToTheirFlags) {
  for (PutDurability d :
       {PutDurability::kStored, PutDurability::kWritten, PutDurability::kSynced}) {
    PutDurability parsed = PutDurability::kStored;
    ASSERT_TRUE(ParsePutDurability(PutDurabilityName(d), &parsed)) << PutDurabilityName(d);
    EXPECT_EQ(parsed, d);
  }
  EXPECT_EQ(DurabilityFlags(PutDurability::kStored), 0);
  EXPECT_EQ(DurabilityFlags(PutDurability::kWritten), kPutFlagWritten);
  EXPECT_EQ(DurabilityFlags(PutDurability::kSynced), kPutFlagFlush);
  PutDurability out = PutDurability::kWritten;
  for (const char* bad : {"", "sync", "Written", "written ", "1"}) {
    EXPECT_FALSE(ParsePutDurability(bad, &out)) << "'" << bad << "'";
    EXPECT_EQ(out, PutDurability::kWritten) << "a refused name leaves the value alone";
  }
}

TEST(BrokerProtocol, GroupFetchCarriesAnOptionalMember) {
  std::string body;
  EncodeGroupFetchRequest({"queue", "group", 10, 100, 0x1234}, &body);
  GroupFetchRequest r;
  ASSERT_TRUE(DecodeGroupFetchRequest(body, &r).ok());
  EXPECT_EQ(r.member, 0x1234u);
  EXPECT_EQ(r.queue, "queue");
  EXPECT_EQ(r.wait_ms, 100u);
  // Without it the fetch assigns nothing; a part of one, or member 0, is refused.
  ASSERT_TRUE(DecodeGroupFetchRequest(std::string_view(body).substr(0, body.size() - 8), &r).ok());
  EXPECT_EQ(r.member, 0u);
  for (size_t cut = 1; cut < 8; ++cut) {
    EXPECT_TRUE(DecodeGroupFetchRequest(std::string_view(body).substr(0, body.size() - cut), &r)
                    .IsCorruption())
        << cut;
  }
  std::string zero = body.substr(0, body.size() - 8) + std::string(8, '\0');
  EXPECT_TRUE(DecodeGroupFetchRequest(zero, &r).IsCorruption());
}

}  // namespace
}  // namespace meshq::bridge
