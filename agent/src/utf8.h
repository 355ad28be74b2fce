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

// The index of the first byte at or after `pos` that is not ASCII (in.size() if none). Reads
// 8 bytes at a time: most parameters and every Java name are ASCII.
std::size_t SkipAscii(std::string_view in, std::size_t pos);

// Calls unit(char16_t) for every UTF-16 code unit of `utf8` in order, a non-BMP code point
// giving its high then its low surrogate, as Java's String holds them. InvalidArgument naming the
// byte offset on invalid UTF-8 (after `unit` has seen the units before it). Inline: it sits on
// the per-request path (Java hash, hessian2 string lengths).
template <typename F>
Status ForEachUtf16Unit(std::string_view utf8, F&& unit) {
  std::size_t i = 0;
  while (i < utf8.size()) {
    const auto b = static_cast<unsigned char>(utf8[i]);
    if (b < 0x80) {
      unit(static_cast<char16_t>(b));
      ++i;
      continue;
    }
    char32_t cp;
    const int n = DecodeUtf8CodePoint(utf8, i, &cp);
    if (n == 0) return Status::InvalidArgument("invalid UTF-8 at byte " + std::to_string(i));
    i += static_cast<std::size_t>(n);
    if (cp >= 0x10000) {
      unit(static_cast<char16_t>(0xD800 + ((cp - 0x10000) >> 10)));
      unit(static_cast<char16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF)));
    } else {
      unit(static_cast<char16_t>(cp));
    }
  }
  return Status::OK();
}

// Appends the UTF-8 encoding of `cp` to `out`. Requires cp <= 0x10FFFF and not a surrogate.
void AppendUtf8(char32_t cp, std::string* out);

}  // namespace meshq::agent
