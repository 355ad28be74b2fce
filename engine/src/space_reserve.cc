// SpaceReserve: one preallocated file, made when there is room and deleted when Open has none.
#include "space_reserve.h"

#include <unistd.h>

#include <cstdio>

#include "posix_file.h"

namespace meshq {

std::string ReservePath(const std::string& meta_dir) { return meta_dir + "/RESERVE"; }

void CreateReserveIfMissing(const std::string& meta_dir) {
  const std::string path = ReservePath(meta_dir);
  uint64_t free_bytes = 0;
  if (PathExists(path) || !FreeBytes(meta_dir, &free_bytes).ok() ||
      free_bytes < 4 * kReserveBytes) {
    return;
  }
  // Written under a temporary name and renamed, so a crash never leaves a short reserve that a
  // later Open would count on.
  const std::string tmp = path + ".tmp";
  PosixFile file;
  bool made =
      file.Open(tmp, /*create=*/true).ok() && file.Allocate(kReserveBytes).ok() && file.Sync().ok();
  file.Close();
  if (!made || std::rename(tmp.c_str(), path.c_str()) != 0) ::unlink(tmp.c_str());
}

void ReleaseReserve(const std::string& meta_dir) { ::unlink(ReservePath(meta_dir).c_str()); }

bool IsNoSpace(const Status& s) {
  const std::string_view m = s.message();
  return s.IsIOError() && (m.find("No space left on device") != std::string_view::npos ||
                           m.find("File too large") != std::string_view::npos);
}

Status NoSpaceToOpen(const std::string& dir, const Status& cause) {
  uint64_t free_bytes = 0;
  std::string free_text = "unknown";
  if (FreeBytes(dir, &free_bytes).ok()) free_text = std::to_string(free_bytes);
  return Status::IOError(dir + ": no space to open the store: " + free_text +
                         " bytes free on its file system, Open needs up to " +
                         std::to_string(kReserveBytes) +
                         " (for its metadata's new log, manifest and checkpoint); free space "
                         "and open again (" +
                         std::string(cause.message()) + ")");
}

}  // namespace meshq
