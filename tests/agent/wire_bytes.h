// Test helper for the wire codec tests: golden byte strings written as lists of byte values.
#pragma once

#include <initializer_list>
#include <string>

namespace meshq::agent::testing_bytes {

inline std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(static_cast<char>(x));
  return s;
}

}  // namespace meshq::agent::testing_bytes
