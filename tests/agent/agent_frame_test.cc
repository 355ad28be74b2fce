// Agent-to-agent frames: golden layout, round trips, batching, truncation, corruption, interning.
#include "agent_frame.h"

#include <gtest/gtest.h>

#include <string>

#include "wire_bytes.h"

namespace meshq::agent::frame {
namespace {

using testing_bytes::Bytes;

TEST(AgentFrame, GoldenRequestAndResponseLayout) {
  std::string out;
  AppendRequest(0x0102030405060708ULL, 3, 1500, "hi", &out);
  EXPECT_EQ(out, Bytes({0, 0, 0, 17, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x05, 0xDC, 0, 3}) + "hi");
  out.clear();
  AppendResponse(9, ResponseStatus::kTimeout, "late", &out);
  EXPECT_EQ(out, Bytes({0, 0, 0, 14, 3, 0, 0, 0, 0, 0, 0, 0, 9, 2}) + "late");
  out.clear();
  AppendServiceDef(1, "I", "m", "T;", &out);
  EXPECT_EQ(out, Bytes({0, 0, 0, 13, 1, 0, 1, 0, 1, 'I', 0, 1, 'm', 0, 2, 'T', ';'}));
  out.clear();
  AppendGoAway(&out);
  EXPECT_EQ(out, Bytes({0, 0, 0, 1, 6}));
}

TEST(AgentFrame, BatchRoundTrip) {
  std::string batch;
  AppendServiceDef(0, "com.example.Svc", "hash", "Ljava/lang/String;", &batch);
  AppendRequest(1, 0, 800, "\xE4\xB8\xAD\xF0\x9F\x98\x80", &batch);
  AppendRequest(2, 0, 0, "", &batch);
  AppendResponse(1, ResponseStatus::kOk, "646394", &batch);
  AppendResponse(2, ResponseStatus::kProviderError, "java.lang.RuntimeException: x", &batch);
  AppendPing(77, &batch);
  AppendPong(77, &batch);
  AppendGoAway(&batch);

  std::string_view in = batch;
  std::vector<Frame> frames;
  while (!in.empty()) {
    auto r = DecodeFrame(in);
    ASSERT_TRUE(r.ok()) << r.error.ToString();
    frames.push_back(r.value);
    in.remove_prefix(r.consumed);
  }
  ASSERT_EQ(frames.size(), 8u);
  EXPECT_EQ(frames[0].type, Type::kServiceDef);
  EXPECT_EQ(frames[0].interface_name, "com.example.Svc");
  EXPECT_EQ(frames[0].method, "hash");
  EXPECT_EQ(frames[0].parameter_types, "Ljava/lang/String;");
  EXPECT_EQ(frames[1].type, Type::kRequest);
  EXPECT_EQ(frames[1].id, 1u);
  EXPECT_EQ(frames[1].deadline_ms, 800u);
  EXPECT_EQ(frames[1].payload, "\xE4\xB8\xAD\xF0\x9F\x98\x80");
  EXPECT_EQ(frames[2].payload, "");
  EXPECT_EQ(frames[3].type, Type::kResponse);
  EXPECT_EQ(frames[3].status, ResponseStatus::kOk);
  EXPECT_EQ(frames[3].payload, "646394");
  EXPECT_EQ(frames[4].status, ResponseStatus::kProviderError);
  EXPECT_EQ(frames[5].type, Type::kPing);
  EXPECT_EQ(frames[5].id, 77u);
  EXPECT_EQ(frames[6].type, Type::kPong);
  EXPECT_EQ(frames[7].type, Type::kGoAway);
}

TEST(AgentFrame, LostAndTooLargeStatusesRoundTrip) {
  std::string out;
  AppendResponse(3, ResponseStatus::kLost, "gone", &out);
  EXPECT_EQ(out, Bytes({0, 0, 0, 14, 3, 0, 0, 0, 0, 0, 0, 0, 3, 6}) + "gone");
  out.clear();
  AppendResponse(4, ResponseStatus::kTooLarge, "big", &out);
  EXPECT_EQ(out, Bytes({0, 0, 0, 13, 3, 0, 0, 0, 0, 0, 0, 0, 4, 7}) + "big");
  auto r = DecodeFrame(out);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.status, ResponseStatus::kTooLarge);
  EXPECT_STREQ(ResponseStatusName(ResponseStatus::kLost), "lost");
  EXPECT_STREQ(ResponseStatusName(ResponseStatus::kTooLarge), "too large");
}

TEST(AgentFrame, EveryTruncationNeedsMore) {
  std::string batch;
  AppendServiceDef(0, "com.example.Svc", "hash", "Ljava/lang/String;", &batch);
  AppendRequest(1, 0, 800, "param", &batch);
  AppendResponse(1, ResponseStatus::kOk, "42", &batch);
  AppendPing(5, &batch);
  std::size_t start = 0;
  while (start < batch.size()) {
    auto whole = DecodeFrame(std::string_view(batch).substr(start));
    ASSERT_TRUE(whole.ok());
    for (std::size_t cut = 0; cut < whole.consumed; ++cut) {
      ASSERT_TRUE(DecodeFrame(std::string_view(batch).substr(start, cut)).need_more())
          << "frame at " << start << " cut at " << cut;
    }
    start += whole.consumed;
  }
}

TEST(AgentFrame, CorruptionIsAnError) {
  EXPECT_TRUE(DecodeFrame(Bytes({0, 0, 0, 0})).failed());                  // empty frame
  EXPECT_TRUE(DecodeFrame(Bytes({0, 0, 0, 5, 9})).failed());               // unknown type, early
  EXPECT_TRUE(DecodeFrame(Bytes({0, 0x20, 0, 0})).failed());               // 2 MiB > 1 MiB limit
  EXPECT_TRUE(DecodeFrame(Bytes({0, 0x20, 0, 0}), 4u << 20).need_more());  // within a raised limit
  EXPECT_TRUE(DecodeFrame(Bytes({0, 0, 0, 3, 2, 0, 0})).failed());         // short request
  EXPECT_TRUE(DecodeFrame(Bytes({0, 0, 0, 2, 3, 0})).failed());            // short response
  EXPECT_TRUE(DecodeFrame(Bytes({0, 0, 0, 10, 3, 0, 0, 0, 0, 0, 0, 0, 1, 99})).failed());  // status
  EXPECT_TRUE(DecodeFrame(Bytes({0, 0, 0, 10, 3, 0, 0, 0, 0, 0, 0, 0, 1, 8})).failed());   // status
  EXPECT_TRUE(DecodeFrame(Bytes({0, 0, 0, 2, 4, 0})).failed());  // short ping
  EXPECT_TRUE(DecodeFrame(Bytes({0, 0, 0, 2, 6, 0})).failed());  // go-away with payload
  // Service definition whose inner lengths overrun the frame.
  EXPECT_TRUE(DecodeFrame(Bytes({0, 0, 0, 5, 1, 0, 0, 0, 9})).failed());
}

TEST(AgentFrame, InterningSendsEachDefinitionOnce) {
  ServiceInterner interner;
  std::string out;
  std::uint16_t a, b, c;
  ASSERT_TRUE(interner.Intern("S", "hash", "Ljava/lang/String;", &out, &a).ok());
  const std::size_t after_first = out.size();
  EXPECT_GT(after_first, 0u);
  ASSERT_TRUE(interner.Intern("S", "hash", "Ljava/lang/String;", &out, &b).ok());
  EXPECT_EQ(out.size(), after_first) << "a known key appends nothing";
  EXPECT_EQ(a, b);
  ASSERT_TRUE(interner.Intern("S", "other", "I", &out, &c).ok());
  EXPECT_NE(a, c);

  ServiceTable table;
  std::string_view in = out;
  while (!in.empty()) {
    auto r = DecodeFrame(in);
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(table.Define(r.value).ok());
    in.remove_prefix(r.consumed);
  }
  ASSERT_NE(table.Find(a), nullptr);
  EXPECT_EQ(table.Find(a)->method, "hash");
  EXPECT_EQ(table.Find(c)->parameter_types, "I");
  EXPECT_EQ(table.Find(77), nullptr);

  // Redefining a ref with other strings is a protocol violation.
  std::string redef;
  AppendServiceDef(a, "S", "changed", "I", &redef);
  EXPECT_TRUE(table.Define(DecodeFrame(redef).value).IsInvalidArgument());
  std::string ping;
  AppendPing(1, &ping);
  EXPECT_TRUE(table.Define(DecodeFrame(ping).value).IsInvalidArgument());
}

}  // namespace
}  // namespace meshq::agent::frame
