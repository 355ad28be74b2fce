// Micro-benchmark helpers: a store in a fresh directory on tmpfs (/dev/shm when present), so
// what is measured is the code path, not a disk.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "bench_store.h"

namespace meshq::bench {

class ScratchDir {
 public:
  ScratchDir() {
    std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string pattern = base + "/meshq-micro-XXXXXX";
    if (::mkdtemp(pattern.data())) path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace meshq::bench
