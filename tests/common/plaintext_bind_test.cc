// CheckPlaintextBind: plaintext on loopback only, unless --insecure-plaintext.
#include "meshq/plaintext_bind.h"

#include <gtest/gtest.h>

namespace meshq {
namespace {

TEST(PlaintextBindTest, LoopbackIsAllowed) {
  EXPECT_TRUE(CheckPlaintextBind("s", "127.0.0.1", "--tls-cert", false).ok());
  EXPECT_TRUE(CheckPlaintextBind("s", "127.8.9.10", "--tls-cert", false).ok());
  EXPECT_TRUE(CheckPlaintextBind("s", "::1", "--tls-cert", false).ok());
}

TEST(PlaintextBindTest, AnyOtherAddressNeedsInsecurePlaintext) {
  for (const char* host : {"0.0.0.0", "10.1.2.3", "::", "fe80::1"}) {
    Status s = CheckPlaintextBind("meshq-agent", host, "--tls-cert and --tls-key", false);
    ASSERT_FALSE(s.ok()) << host;
    EXPECT_NE(s.ToString().find("meshq-agent: refusing to serve plaintext on " + std::string(host)),
              std::string::npos)
        << s.ToString();
    EXPECT_NE(s.ToString().find("--tls-cert and --tls-key, or --insecure-plaintext"),
              std::string::npos);
    EXPECT_TRUE(CheckPlaintextBind("meshq-agent", host, "--tls-cert", true).ok()) << host;
  }
}

TEST(PlaintextBindTest, NotAnAddressIsRefused) {
  EXPECT_FALSE(CheckPlaintextBind("s", "localhost", "--tls-cert", true).ok());
  EXPECT_FALSE(CheckPlaintextBind("s", "", "--tls-cert", true).ok());
}

}  // namespace
}  // namespace meshq
