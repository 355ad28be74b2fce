// Fuzz target: the Dubbo 2 decoders — frame header/body split, request invocation (hessian2
// body), response decoding and its text rendering. Never a crash; a split frame lies inside the
// input and its body length is the header's.
#include <cstdint>
#include <string_view>

#include "dubbo_codec.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshq::agent;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (int frames = 0; frames < 16 && !in.empty(); ++frames) {
    auto r = dubbo::DecodeFrame(in, 1u << 16);
    if (!r.ok()) break;
    FUZZ_CHECK(r.consumed == dubbo::kHeaderSize + r.value.header.body_length);
    FUZZ_CHECK(r.consumed <= in.size());
    FUZZ_CHECK(r.value.body.size() == r.value.header.body_length);
    const dubbo::Frame& f = r.value;
    if (f.header.is_request()) {
      dubbo::Invocation inv;
      (void)dubbo::DecodeInvocation(f.body, &inv);
    } else {
      dubbo::Response resp;
      if (dubbo::DecodeResponse(f, &resp).ok()) (void)dubbo::ResponseText(resp);
    }
    in.remove_prefix(r.consumed);
  }
  // The body decoders also take raw bytes directly, without a valid header in front.
  dubbo::Invocation inv;
  (void)dubbo::DecodeInvocation(std::string_view(reinterpret_cast<const char*>(data), size), &inv);
  return 0;
}
