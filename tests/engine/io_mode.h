// IoModeName: names the two instances of a test parameterized over StoreOptions::direct_io.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace meshq::testing {

// For INSTANTIATE_TEST_SUITE_P(IoModes, Fixture, ::testing::Bool(), IoModeName).
inline std::string IoModeName(const ::testing::TestParamInfo<bool>& param) {
  return param.param ? "direct" : "buffered";
}

}  // namespace meshq::testing
