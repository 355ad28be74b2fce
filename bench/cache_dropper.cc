// DropCaches: the global way first, then the per-file way that works without privileges.
#include "cache_dropper.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace meshq::bench {

std::string DropCaches(const std::string& dir) {
  ::sync();
  const int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY);
  if (fd >= 0) {
    const bool ok = ::write(fd, "3", 1) == 1;
    ::close(fd);
    if (ok) return "drop_caches";
  }
  int files = 0;
  std::string error;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const int f = ::open(it->path().c_str(), O_RDONLY);
    if (f < 0) {
      error = it->path().string() + ": " + std::strerror(errno);
      continue;
    }
    ::fdatasync(f);
    if (::posix_fadvise(f, 0, 0, POSIX_FADV_DONTNEED) == 0) ++files;
    ::close(f);
  }
  if (ec) return "failed: " + dir + ": " + ec.message();
  if (!error.empty() && files == 0) return "failed: " + error;
  return "fadvise(" + std::to_string(files) + " files)";
}

}  // namespace meshq::bench
