// fuzz_make_seeds OUT_DIR: writes the seed corpora (corpus/<target>/seed-*) from the project's
// own encoders, so seeds are valid inputs that the fuzzers then mutate. Rerun after a wire or
// disk format change and commit the result.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <rocksdb/write_batch.h>

#include "block_format.h"
#include "checkpoint_log.h"
#ifdef MESHQ_SEEDS_BRIDGE
#include "meshq/bridge/broker_protocol.h"
#include "meshq/bridge/frame.h"
#include "meshq/bridge/rpc_message.h"
#endif
#ifdef MESHQ_SEEDS_AGENT
#include "agent_frame.h"
#include "dubbo_codec.h"
#include "hessian2.h"
#endif

namespace {

std::string g_out;
constexpr uint64_t kSalt = 0x5EEDF00Dull;  // the salt of the engine fuzz targets

void Write(const std::string& target, int n, const std::string& bytes) {
  std::filesystem::create_directories(g_out + "/" + target);
  std::ofstream(g_out + "/" + target + "/seed-" + std::to_string(n), std::ios::binary) << bytes;
}

std::string Block(uint32_t queue, uint64_t first, const std::vector<std::string>& msgs) {
  std::string payload;
  for (const auto& m : msgs) {
    std::string framed(meshq::FramedMessageSize(m.size()), '\0');
    meshq::AppendFramedMessage(framed.data(), m);
    payload += framed;
  }
  std::string block(meshq::BlockHeader::StoredBytes(static_cast<uint32_t>(payload.size())), '\0');
  meshq::EncodeBlock(block.data(), queue, first, static_cast<uint32_t>(msgs.size()), payload,
                     kSalt);
  return block;
}

void EngineSeeds() {
  Write("engine_block", 1, Block(1, 0, {"hello", "world"}));
  Write("engine_block", 2, Block(7, 1000, {"", std::string(200, 'x'), "z"}));
  Write("engine_block", 3, Block(3, 5, {std::string(1500, 'q')}));
  Write("engine_block", 4, Block(9, 0, std::vector<std::string>(40, "m")));
  // Scan inputs: mode byte (bit 0 at_eof, bit 1 fix checksums, bits 2.. split KiB), then units.
  std::string seg = Block(1, 0, {"a", "b"}) + std::string(1024, '\0') + Block(2, 0, {"c"}) +
                    Block(1, 2, {std::string(1100, 'd')});
  Write("engine_scan", 1, std::string(1, char(0x01 | (2 << 2))) + seg);
  Write("engine_scan", 2, std::string(1, char(0x00 | (1 << 2))) + seg.substr(0, 2500));
  std::string torn = seg;
  torn[40] ^= 1;  // a bad checksum in the first block
  Write("engine_scan", 3, std::string(1, char(0x01 | (3 << 2))) + torn);
  Write("engine_scan", 4, std::string(1, char(0x03)) + Block(5, 9, {"e", "f", "g"}));

  meshq::CheckpointWriter writer(3);
  writer.AddQueue(0, "orders");
  writer.AddQueue(1, std::string("bin\0\xff", 5));
  const meshq::BlockRef refs[] = {{0, 0}, {4, 70}, {9, 141}};
  writer.AddBlocks(0, 0, 200, refs, 3);
  writer.AddBlocks(1, 5, 9, refs + 1, 1);
  writer.AddTrim(0, 150, 2);
  meshq::MetadataStore::Batch batch;
  writer.Finish(&batch);
  struct Parts : rocksdb::WriteBatch::Handler {
    int n = 0;
    void Put(const rocksdb::Slice&, const rocksdb::Slice& value) override {
      Write("engine_checkpoint", ++n, value.ToString());
    }
  } parts;
  (void)batch.rep()->Iterate(&parts);
}

#ifdef MESHQ_SEEDS_BRIDGE
void BridgeSeeds() {
  using namespace meshq::bridge;
  auto frame = [](FrameType type, uint8_t flags, uint64_t id, const std::string& body) {
    FrameHeader h;
    h.type = type;
    h.flags = flags;
    h.request_id = id;
    h.body_length = static_cast<uint32_t>(body.size());
    std::string out;
    AppendFrame(h, body, &out);
    return out;
  };
  std::string body;
  PutRequest put;
  put.queue = "orders";
  put.messages = {{0, "first"}, {42, "second"}};
  EncodePutRequest(put, kPutFlagFlush, &body);
  std::string stream = frame(FrameType::kPut, kPutFlagFlush, 1, body);
  body.clear();
  ReadRequest read;
  read.queue = "orders";
  read.offset = 3;
  read.max_count = 10;
  read.wait_ms = 100;
  EncodeReadRequest(read, &body);
  stream += frame(FrameType::kGet, 0, 2, body);
  Write("bridge_frame", 1, stream);
  body.clear();
  AckRequest ack;
  ack.queue = "orders";
  ack.group = "g1";
  ack.offsets = {1, 2, 5};
  EncodeAckRequest(ack, &body);
  Write("bridge_frame", 2,
        frame(FrameType::kAck, kAckFlagSync, 3, body) + frame(FrameType::kPing, 0, 4, ""));
  body.clear();
  Message m;
  m.offset = 7;
  m.payload = "reply";
  AppendMessage(m, &body);
  Write("bridge_frame", 3, frame(FrameType::kMessages, 0, 5, body));
  body.clear();
  RpcRequest rpc;
  rpc.request_id = 99;
  rpc.deadline_us = 123456;
  rpc.reply_to = "client-1.replies";
  rpc.method = "hash";
  rpc.payload = "hello";
  EncodeRpcRequest(rpc, &body);
  PutRequest rput;
  rput.queue = "svc.requests";
  rput.messages = {{99, body}};
  std::string put_body;
  EncodePutRequest(rput, 0, &put_body);
  Write("bridge_frame", 4, frame(FrameType::kPut, 0, 6, put_body));
  // The ACL's text (docs/SECURITY.md, "Access control"): a deployment's rules, and a bad line.
  Write("acl", 1,
        "allow client-* put rpc.req.hash\n"
        "allow client-* group,ack rpc.rep.${identity}\n");
  Write("acl", 2, "# comment\nallow - all public.*\n\nallow a*b*c get x*y*z\n");
  Write("acl", 3, "allow provider reply rpc.rep.*\ndeny x get y\n");
}
#endif

#ifdef MESHQ_SEEDS_AGENT
void AgentSeeds() {
  using namespace meshq::agent;
  std::string s;
  frame::AppendServiceDef(1, "com.alibaba.dubbo.performance.demo.provider.IHelloService", "hash",
                          "Ljava/lang/String;", &s);
  frame::AppendRequest(7, 1, 500, "hello world", &s);
  Write("agent_frame", 1, s);
  s.clear();
  frame::AppendResponse(7, frame::ResponseStatus::kOk, "1794106052", &s);
  frame::AppendPing(1, &s);
  frame::AppendPong(1, &s);
  frame::AppendGoAway(&s);
  Write("agent_frame", 2, s);

  std::string_view args[] = {"héllo wörld \xF0\x9F\x98\x80"};
  dubbo::Call call;
  call.service = "com.alibaba.dubbo.performance.demo.provider.IHelloService";
  call.method = "hash";
  call.parameter_types = "Ljava/lang/String;";
  call.arguments = args;
  s.clear();
  (void)dubbo::AppendRequest(42, call, &s);
  dubbo::AppendHeartbeat(43, true, &s);
  Write("dubbo", 1, s);
  s.clear();
  (void)dubbo::AppendValueResponse(42, hessian2::Value::Int(-12345), nullptr, &s);
  Write("dubbo", 2, s);
  s.clear();
  (void)dubbo::AppendExceptionResponse(44, "java.lang.IllegalStateException", "boom", nullptr, &s);
  (void)dubbo::AppendErrorResponse(45, dubbo::ResponseStatus::kServiceError, "bad", &s);
  Write("dubbo", 3, s);

  s.clear();
  {
    hessian2::Writer w(&s);
    w.WriteNull();
    w.WriteBool(true);
    w.WriteInt(0);
    w.WriteInt(-1000000);
    w.WriteLong(1ll << 40);
    w.WriteDouble(3.25);
    (void)w.WriteString("short");
    (void)w.WriteString(std::string(300, 'L') + "\xE4\xBD\xA0\xE5\xA5\xBD");
  }
  Write("hessian2", 1, s);

  Write("http_request", 1,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 117\r\n\r\ninterface=com.alibaba.dubbo.performance.demo.provider."
        "IHelloService&method=hash&parameterTypesString=Ljava%2Flang%2FString%3B&parameter=x"
        "GET /health HTTP/1.0\r\n\r\n");
  Write(
      "http_request", 2,
      "POST / HTTP/1.1\nTransfer-Encoding: chunked\nConnection: close\n\n5\r\nhello\r\n0\r\n\r\n");
  Write("http_request", 3,
        "PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc");
  Write("form", 1,
        "interface=com.alibaba.dubbo.performance.demo.provider.IHelloService&method=hash&"
        "parameterTypesString=Ljava%2Flang%2FString%3B&parameter=h%C3%A9llo+w%F0%9F%98%80rld");
  Write("form", 2, "a=1&b=&c&&a=2&%41%42=%2b+%25");
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  g_out = argv[1];
  EngineSeeds();
#ifdef MESHQ_SEEDS_BRIDGE
  BridgeSeeds();
#endif
#ifdef MESHQ_SEEDS_AGENT
  AgentSeeds();
#endif
  return 0;
}
