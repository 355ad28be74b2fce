// Fuzz target: the agent-to-agent frame decoder over a pipelined byte stream. Never a crash; a
// decoded frame's views lie inside the input; need-more never happens on a complete frame.
#include <cstdint>
#include <string_view>

#include "agent_frame.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshq::agent;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (int frames = 0; frames < 64 && !in.empty(); ++frames) {
    auto r = frame::DecodeFrame(in, 1u << 16);
    if (!r.ok()) {
      FUZZ_CHECK(!r.failed() || !r.error.ok());
      break;
    }
    FUZZ_CHECK(r.consumed > 0 && r.consumed <= in.size());
    const std::string_view used = in.substr(0, r.consumed);
    const frame::Frame& f = r.value;
    FUZZ_CHECK(Inside(f.payload, used) && Inside(f.interface_name, used) &&
               Inside(f.method, used) && Inside(f.parameter_types, used));
    // The same frame decodes alone, from exactly its bytes.
    auto alone = frame::DecodeFrame(used, 1u << 16);
    FUZZ_CHECK(alone.ok() && alone.consumed == r.consumed);
    in.remove_prefix(r.consumed);
  }
  return 0;
}
