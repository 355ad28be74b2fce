// FUZZ_CHECK: an invariant inside a fuzz target. A violation aborts, which libFuzzer reports as a
// crash (and the g++ corpus replay as a failed test), with the condition that failed.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond)                                                                     \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

// True when `part` (a view a decoder returned) lies inside `whole` (the bytes it decoded).
inline bool Inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}
