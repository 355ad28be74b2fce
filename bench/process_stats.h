// Process and filesystem figures the report needs: peak RSS, bytes this process wrote to
// storage, the size of a directory on disk, free space, and whether a path is on tmpfs.
#pragma once

#include <cstdint>
#include <string>

namespace meshq::bench {

// VmHWM of this process in bytes (0 when unavailable).
uint64_t PeakRssBytes();
// Resets VmHWM to the current RSS (Linux /proc/self/clear_refs "5"), so each phase reports its
// own peak. False when the kernel does not allow it (the peak then covers earlier phases too).
bool ResetPeakRss();
// write_bytes of /proc/self/io: bytes this process (all threads) caused to be sent to storage.
uint64_t StorageWriteBytes();
// Bytes allocated on disk by the files under `dir` (st_blocks * 512), recursively.
uint64_t DirectoryDiskBytes(const std::string& dir);
// Free bytes for an unprivileged user on the filesystem holding `path` (or its nearest existing
// parent). 0 when unknown.
uint64_t FreeDiskBytes(const std::string& path);
// True when `path` is on tmpfs/ramfs (the figures would measure memory, not a disk).
bool IsMemoryFilesystem(const std::string& path);

}  // namespace meshq::bench
