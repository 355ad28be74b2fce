// InfoLog: timestamped lines appended to one file, rotated by size, write errors ignored.
#include "info_log.h"

#include <sys/time.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <utility>

namespace meshq {

InfoLog::InfoLog(std::string path, uint64_t max_size, rocksdb::InfoLogLevel level)
    : rocksdb::Logger(level), path_(std::move(path)), max_size_(max_size) {
  std::lock_guard<std::mutex> lock(mu_);
  OpenLocked();
}

void InfoLog::OpenLocked() {
  size_ = 0;
  if (!file_.Open(path_, /*create=*/true).ok() || !file_.Size(&size_).ok()) file_.Close();
}

void InfoLog::Logv(const char* format, va_list ap) {
  char line[1024];
  timeval now{};
  ::gettimeofday(&now, nullptr);
  tm t{};
  ::localtime_r(&now.tv_sec, &t);
  int n = std::snprintf(line, sizeof(line), "%04d/%02d/%02d-%02d:%02d:%02d.%06ld ",
                        t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                        static_cast<long>(now.tv_usec));
  va_list copy;
  va_copy(copy, ap);
  int m = std::vsnprintf(line + n, sizeof(line) - static_cast<size_t>(n) - 1, format, copy);
  va_end(copy);
  size_t len = static_cast<size_t>(n) + static_cast<size_t>(std::max(m, 0));
  len = std::min(len, sizeof(line) - 2);  // a longer line is cut, keeping room for its newline
  if (line[len - 1] != '\n') line[len++] = '\n';

  std::lock_guard<std::mutex> lock(mu_);
  if (file_.is_open() && size_ >= max_size_) {
    file_.Close();
    std::rename(path_.c_str(), (path_ + ".old").c_str());
    OpenLocked();
  }
  if (!file_.is_open()) OpenLocked();
  if (!file_.is_open()) return;
  // A line that fails (e.g. ENOSPC) is dropped; the next one is written at the same place.
  if (file_.WriteAt(size_, line, len).ok()) size_ += len;
}

}  // namespace meshq
