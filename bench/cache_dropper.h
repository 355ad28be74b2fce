// DropCaches: makes the next phase read from the disk, not the page cache.
#pragma once

#include <string>

namespace meshq::bench {

// Syncs, then drops the kernel's clean page cache: all of it through /proc/sys/vm/drop_caches
// when allowed (root outside a container), else the pages of every file under `dir` through
// posix_fadvise(DONTNEED) after fdatasync. Returns how it was done ("drop_caches",
// "fadvise(N files)") or "failed: <why>".
std::string DropCaches(const std::string& dir);

}  // namespace meshq::bench
