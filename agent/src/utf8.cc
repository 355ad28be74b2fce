// Strict UTF-8 decoding (RFC 3629): the single definition of valid text in the agent.
#include "utf8.h"

#include <cstring>

namespace meshq::agent {

int DecodeUtf8CodePoint(std::string_view in, std::size_t pos, char32_t* cp) {
  const auto* s = reinterpret_cast<const unsigned char*>(in.data()) + pos;
  const std::size_t avail = in.size() - pos;
  const unsigned char b0 = s[0];
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  int len;
  char32_t v;
  char32_t min;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, v = b0 & 0x1F, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, v = b0 & 0x0F, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, v = b0 & 0x07, min = 0x10000;
  } else {
    return 0;  // continuation byte, C0/C1 (always overlong) or F5..FF
  }
  if (avail < static_cast<std::size_t>(len)) return 0;
  for (int i = 1; i < len; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

std::size_t SkipAscii(std::string_view in, std::size_t pos) {
  constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;
  while (pos + 8 <= in.size()) {
    std::uint64_t word;
    std::memcpy(&word, in.data() + pos, 8);
    if (word & kHighBits) break;
    pos += 8;
  }
  while (pos < in.size() && static_cast<unsigned char>(in[pos]) < 0x80) ++pos;
  return pos;
}

bool IsValidUtf8(std::string_view in) {
  std::size_t i = 0;
  while ((i = SkipAscii(in, i)) < in.size()) {
    char32_t cp;
    const int n = DecodeUtf8CodePoint(in, i, &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

Status Utf16Length(std::string_view in, std::size_t* units) {
  std::size_t n = 0;
  std::size_t i = 0;
  for (;;) {
    const std::size_t next = SkipAscii(in, i);
    n += next - i;
    i = next;
    if (i >= in.size()) break;
    char32_t cp;
    const int len = DecodeUtf8CodePoint(in, i, &cp);
    if (len == 0) return Status::InvalidArgument("invalid UTF-8 at byte " + std::to_string(i));
    i += static_cast<std::size_t>(len);
    n += cp >= 0x10000 ? 2 : 1;
  }
  *units = n;
  return Status::OK();
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace meshq::agent
