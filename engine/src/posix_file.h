// PosixFile: the one place that owns file descriptors. Full-length pread/pwrite (retrying short
// transfers and EINTR), fdatasync, size, read-ahead hints, and an advisory lock; every error names
// the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "meshq/status.h"

namespace meshq {

// Modes of what the engine creates: the owner's alone (the umask can only clear bits).
inline constexpr unsigned kPrivateFileMode = 0600;
inline constexpr unsigned kPrivateDirMode = 0700;

class PosixFile {
 public:
  PosixFile() = default;
  ~PosixFile();
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  // Opens `path` read-write, creating it (kPrivateFileMode) when `create` (sets *created when it
  // did).
  Status Open(const std::string& path, bool create, bool* created = nullptr);
  // Opens read-only.
  Status OpenReadOnly(const std::string& path);
  void Close();
  bool is_open() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

  // Reads up to n bytes at offset; *got < n only at end of file.
  Status ReadAt(uint64_t offset, size_t n, char* dst, size_t* got) const;
  // Writes exactly n bytes at offset.
  Status WriteAt(uint64_t offset, const char* src, size_t n) const;
  Status Sync() const;
  Status Size(uint64_t* size) const;
  // Asks the kernel to start reading [offset, offset+n) into the page cache; best effort.
  void WillNeed(uint64_t offset, size_t n) const;
  // Allocates the file's first `size` bytes on disk (posix_fallocate), growing it to `size`.
  Status Allocate(uint64_t size) const;
  // Releases the disk space of [offset, offset + n) (fallocate PUNCH_HOLE | KEEP_SIZE): the
  // range reads as zeros and the file keeps its size. The file system frees only its whole
  // blocks inside the range and zeroes the rest. *unsupported is set (and OK returned) when the
  // file system refuses hole punching (EOPNOTSUPP).
  Status PunchHole(uint64_t offset, uint64_t n, bool* unsupported) const;
  // Bytes the file occupies on disk (st_blocks x 512) and its file system's block size.
  Status Allocated(uint64_t* bytes, uint32_t* fs_block_size = nullptr) const;
  // Takes an exclusive advisory lock (flock); Busy when another open file holds it.
  Status LockExclusive();

 private:
  int fd_ = -1;
  std::string path_;
};

// Creates `dir` and its missing parents (kPrivateDirMode). OK when it exists already.
Status CreateDirs(const std::string& dir);
// Takes the group's and others' permissions off an existing directory (one created before the
// engine made its directories private, or by someone else); leaves a directory it may not chmod.
Status MakePrivate(const std::string& dir);
// Bytes an unprivileged writer may still allocate on the file system holding `dir`.
Status FreeBytes(const std::string& dir, uint64_t* bytes);
bool PathExists(const std::string& path);
// fsyncs a directory so that newly created entries in it survive a crash.
Status SyncDir(const std::string& dir);

}  // namespace meshq
