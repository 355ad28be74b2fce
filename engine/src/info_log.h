// InfoLog: RocksDB's informational log (dir/meta/LOG), written by the engine instead of by
// RocksDB's own logger. Debian's librocksdb is built with assertions, and its logger asserts on
// the line after a failed write: on a full disk the first line of an Open fails (ENOSPC) and the
// second aborts the process. A log line is advice, so this one drops what it cannot write.
#pragma once

#include <rocksdb/env.h>

#include <cstdarg>
#include <cstdint>
#include <mutex>
#include <string>

#include "posix_file.h"

namespace meshq {

class InfoLog final : public rocksdb::Logger {
 public:
  // Appends to `path` (created 0600 when missing). Once the file passes `max_size` it becomes
  // `path`.old (replacing the previous one) and a new file starts. Never fails: a log that cannot
  // be opened or written loses its lines.
  InfoLog(std::string path, uint64_t max_size, rocksdb::InfoLogLevel level);

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override;

 private:
  void OpenLocked();

  const std::string path_;
  const uint64_t max_size_;
  std::mutex mu_;
  PosixFile file_;     // guarded by mu_
  uint64_t size_ = 0;  // guarded by mu_: where the next line goes
};

}  // namespace meshq
