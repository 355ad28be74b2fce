// Fuzz target: URL-encoded form decoding (Form::Parse, DecodeComponent). Never a crash; what
// decodes re-encodes and decodes back to itself, and every field found by Parse is found by Get.
#include <cstdint>
#include <string>
#include <string_view>

#include "form.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshq::agent;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string decoded;
  if (form::DecodeComponent(in, &decoded).ok()) {
    std::string encoded, again;
    form::EncodeComponent(decoded, &encoded);
    FUZZ_CHECK(form::DecodeComponent(encoded, &again).ok());
    FUZZ_CHECK(again == decoded);
  }
  form::Form f;
  if (f.Parse(in, 16).ok()) {
    FUZZ_CHECK(f.size() <= 16);
    for (size_t i = 0; i < f.size(); ++i) {
      bool found = false;
      (void)f.Get(f.name(i), &found);
      FUZZ_CHECK(found && f.Count(f.name(i)) >= 1);
    }
  } else {
    FUZZ_CHECK(f.size() == 0);
  }
  return 0;
}
