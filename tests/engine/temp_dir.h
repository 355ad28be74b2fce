// TempDir: a fresh directory under $TMPDIR (or /tmp) removed with everything in it at scope end.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace meshq::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/meshq-test-XXXXXX";
    char* p = mkdtemp(tmpl.data());
    if (p == nullptr) abort();
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace meshq::testing
