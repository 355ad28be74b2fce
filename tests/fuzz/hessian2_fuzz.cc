// Fuzz target: the hessian2 value decoder, value after value through the input, and the text
// rendering of each value. Never a crash; consumed bytes stay inside the input and progress.
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "hessian2.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshq::agent;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (int values = 0; values < 64 && !in.empty(); ++values) {
    auto r = hessian2::DecodeValue(in);
    if (!r.ok()) break;
    FUZZ_CHECK(r.consumed > 0 && r.consumed <= in.size());
    (void)hessian2::ToText(r.value);
    in.remove_prefix(r.consumed);
  }
  return 0;
}
