// Strict UTF-8 scanning shared by the Java hash, hessian2 strings and form decoding: one place
// decides what "valid UTF-8" means (no overlongs, no encoded surrogates, nothing above U+10FFFF).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "meshq/status.h"

namespace meshq::agent {

// Decodes the code point starting at `in[pos]`. Returns its byte length (1..4) and stores the
// code point in *cp, or returns 0 when the bytes at `pos` are not a complete, valid sequence
// (truncated, overlong, surrogate, > U+10FFFF, stray continuation byte). Requires pos < in.size().
int DecodeUtf8CodePoint(std::string_view in, std::size_t pos, char32_t* cp);

// True when `in` is entirely valid UTF-8 (the empty string is valid).
bool IsValidUtf8(std::string_view in);

// Number of UTF-16 code units `in` occupies in Java (non-BMP code points count 2).
// InvalidArgument naming the byte offset when `in` is not valid UTF-8.
Status Utf16Length(std::string_view in, std::size_t* units);

// Appends the UTF-8 encoding of `cp` to `out`. Requires cp <= 0x10FFFF and not a surrogate.
void AppendUtf8(char32_t cp, std::string* out);

}  // namespace meshq::agent
