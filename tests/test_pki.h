// TestPki: a throw-away PKI for one test, made by tools/certs.sh (real certificates: a CA, the
// broker, clients "alice" and "bob", one from a foreign CA, an expired one; see the script) in
// a fresh temporary directory that is removed at the end.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

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

}  // namespace meshq::testing
