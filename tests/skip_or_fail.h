// MESHQ_SKIP_OR_FAIL: for a test that cannot run where it finds itself (no tmpfs mount, a missing
// device). Only an unprivileged developer outside CI may skip; as root or with CI set (CI runs
// as root with CI=true) the environment has what the test needs, so there it fails instead: a
// broken environment must not pass as a skipped test.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace meshq::testing {

// Why this run must not skip ("" when it may): running as root, or CI set in the environment.
inline std::string WhySkipIsAFailure() {
  if (const char* ci = std::getenv("CI"); ci != nullptr && *ci != '\0') {
    return std::string("CI=") + ci + " is set";
  }
  if (::geteuid() == 0) return "running as root";
  return "";
}

}  // namespace meshq::testing

#define MESHQ_SKIP_OR_FAIL(reason)                                                            \
  do {                                                                                        \
    const std::string meshq_why_fail = ::meshq::testing::WhySkipIsAFailure();                 \
    if (!meshq_why_fail.empty()) {                                                            \
      FAIL() << reason << "; not skipped (" << meshq_why_fail                                 \
             << "): this environment must be able to run the test";                           \
    }                                                                                         \
    GTEST_SKIP() << reason << "; skipped as an unprivileged run outside CI (as root or with " \
                 << "CI set this fails)";                                                     \
  } while (0)
