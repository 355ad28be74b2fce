// TestPki: a throw-away PKI for one test, made by tools/certs.sh (real certificates: a CA, the
// broker, clients "alice" and "bob", one from a foreign CA, an expired one; see the script) in
// a fresh temporary directory that is removed at the end.
#pragma once

#include <stdlib.h>

#include <boost/asio/ssl/context.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "meshq/tls.h"

namespace meshq::testing {

class TestPki {
 public:
  TestPki() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "meshq-pki-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = pattern;
    const std::string log = dir_ + "/certs.log";
    const std::string command = "bash '" MESHQ_CERTS_SH "' '" + dir_ + "' >'" + log + "' 2>&1";
    if (std::system(command.c_str()) != 0) {
      std::ifstream f(log);
      error_ = "tools/certs.sh failed: " +
               std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    }
  }
  ~TestPki() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  // Empty when the PKI was made; else what failed.
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_; }
  // NAME.pem and NAME-key.pem of tools/certs.sh (e.g. "ca", "broker", "alice", "foreign").
  std::string cert(const std::string& name) const { return dir_ + "/" + name + ".pem"; }
  std::string key(const std::string& name) const { return dir_ + "/" + name + "-key.pem"; }

 private:
  std::string dir_;
  std::string error_;
};

// A fixture whose suite shares one TestPki (its certificates are only read): pki_ in each test.
class TestPkiSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { shared_ = new TestPki(); }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }
  void SetUp() override { ASSERT_EQ(pki_.error(), ""); }

  const TestPki& pki_ = *shared_;

 private:
  static inline TestPki* shared_ = nullptr;
};

// A client context trusting `pki`'s ca.pem that presents certificate `name` as it is, even
// expired (MakeTlsClientContext refuses to load an expired one); null when it cannot be made.
inline std::shared_ptr<boost::asio::ssl::context> ClientPresenting(const TestPki& pki,
                                                                   const std::string& name) {
  TlsClientOptions o;
  o.ca_file = pki.cert("ca");
  std::shared_ptr<boost::asio::ssl::context> ctx;
  if (!MakeTlsClientContext(o, &ctx).ok()) return nullptr;
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_use_certificate_chain_file(native, pki.cert(name).c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(native, pki.key(name).c_str(), SSL_FILETYPE_PEM) != 1) {
    return nullptr;
  }
  return ctx;
}

}  // namespace meshq::testing
