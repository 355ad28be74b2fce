// Java String.hashCode() over the UTF-16 code units of UTF-8 text.
#include "java_hash.h"

#include <string>

#include "utf8.h"

namespace meshq::agent {

Status JavaStringHash(std::string_view utf8, std::int32_t* hash) {
  // Unsigned arithmetic wraps exactly like Java's int overflow, without signed-overflow UB.
  std::uint32_t h = 0;
  Status s = ForEachUtf16Unit(utf8, [&h](char16_t unit) { h = h * 31 + unit; });
  if (!s.ok()) return Status::InvalidArgument("java hash: " + std::string(s.message()));
  *hash = static_cast<std::int32_t>(h);
  return Status::OK();
}

}  // namespace meshq::agent
