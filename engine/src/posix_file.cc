// PosixFile implementation over open/pread/pwrite/fdatasync.
#include "posix_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

namespace meshq {

PosixFile::~PosixFile() { Close(); }

Status PosixFile::Open(const std::string& path, bool create, bool* created) {
  Close();
  path_ = path;
  if (created) *created = false;
  int flags = O_RDWR | O_CLOEXEC;
  fd_ = ::open(path.c_str(), flags);
  if (fd_ < 0 && errno == ENOENT && create) {
    // Owner-only whatever the umask (which can only clear bits): messages are private data.
    fd_ = ::open(path.c_str(), flags | O_CREAT | O_EXCL, kPrivateFileMode);
    if (fd_ >= 0 && created) *created = true;
    if (fd_ < 0 && errno == EEXIST) fd_ = ::open(path.c_str(), flags);
  }
  if (fd_ < 0) return Status::IOError(path, errno);
  return Status::OK();
}

Status PosixFile::OpenReadOnly(const std::string& path) {
  Close();
  path_ = path;
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return Status::IOError(path, errno);
  return Status::OK();
}

void PosixFile::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status PosixFile::ReadAt(uint64_t offset, size_t n, char* dst, size_t* got) const {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(path_, errno);
    }
    if (r == 0) break;  // end of file
    done += static_cast<size_t>(r);
  }
  *got = done;
  return Status::OK();
}

Status PosixFile::WriteAt(uint64_t offset, const char* src, size_t n) const {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pwrite(fd_, src + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(path_, errno);
    }
    done += static_cast<size_t>(r);
  }
  return Status::OK();
}

Status PosixFile::Sync() const {
  if (::fdatasync(fd_) != 0) return Status::IOError(path_, errno);
  return Status::OK();
}

Status PosixFile::Size(uint64_t* size) const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return Status::IOError(path_, errno);
  *size = static_cast<uint64_t>(st.st_size);
  return Status::OK();
}

void PosixFile::WillNeed(uint64_t offset, size_t n) const {
  ::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(n), POSIX_FADV_WILLNEED);
}

Status PosixFile::Allocate(uint64_t size) const {
  // posix_fallocate returns the error instead of setting errno.
  int err = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
  if (err != 0) return Status::IOError(path_, err);
  return Status::OK();
}

Status PosixFile::PunchHole(uint64_t offset, uint64_t n, bool* unsupported) const {
  *unsupported = false;
  if (n == 0) return Status::OK();
  for (;;) {
    if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(n)) == 0) {
      return Status::OK();
    }
    if (errno == EINTR) continue;
    if (errno == EOPNOTSUPP || errno == ENOSYS) {
      *unsupported = true;
      return Status::OK();
    }
    return Status::IOError(path_, errno);
  }
}

Status PosixFile::Allocated(uint64_t* bytes, uint32_t* fs_block_size) const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return Status::IOError(path_, errno);
  *bytes = static_cast<uint64_t>(st.st_blocks) * 512;
  if (fs_block_size != nullptr) *fs_block_size = static_cast<uint32_t>(st.st_blksize);
  return Status::OK();
}

Status PosixFile::LockExclusive() {
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::Busy(path_ + ": the store is open elsewhere (lock held)");
    }
    return Status::IOError(path_, errno);
  }
  return Status::OK();
}

Status CreateDirs(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("empty directory name");
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), kPrivateDirMode) != 0 && errno != EEXIST) {
      return Status::IOError(partial, errno);
    }
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Status::IOError(dir, errno);
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(dir + ": not a directory");
  return Status::OK();
}

Status MakePrivate(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Status::IOError(dir, errno);
  if ((st.st_mode & 077) == 0) return Status::OK();
  // Only the owner (or root) may chmod; a store in someone else's directory keeps its mode.
  if (::chmod(dir.c_str(), st.st_mode & 0700) != 0 && errno != EPERM) {
    return Status::IOError(dir, errno);
  }
  return Status::OK();
}

Status FreeBytes(const std::string& dir, uint64_t* bytes) {
  struct statvfs vfs;
  if (::statvfs(dir.c_str(), &vfs) != 0) return Status::IOError(dir, errno);
  *bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  return Status::OK();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IOError(dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::IOError(dir, err);
  return Status::OK();
}

}  // namespace meshq
