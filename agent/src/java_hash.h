// Java's String.hashCode() for UTF-8 input: the value the reference Dubbo provider
// (IHelloService.hash) returns, so agents and the simulator agree on every answer.
#pragma once

#include <cstdint>
#include <string_view>

#include "meshq/status.h"

namespace meshq::agent {

// Computes s[0]*31^(n-1) + ... + s[n-1] with 32-bit wrap-around over the UTF-16 code units of
// `utf8` (a non-BMP code point contributes its high then low surrogate), exactly like
// java.lang.String.hashCode(). "" -> 0, "hello" -> 99162322.
// Returns InvalidArgument (and leaves *hash untouched) when `utf8` is not valid UTF-8.
// Thread-safe, no allocation on success.
Status JavaStringHash(std::string_view utf8, std::int32_t* hash);

}  // namespace meshq::agent
