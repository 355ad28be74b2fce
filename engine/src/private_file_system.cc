// PrivateFileSystem: RocksDB's default file system with a chmod after each file it creates.
#include "private_file_system.h"

#include <rocksdb/file_system.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "posix_file.h"

namespace meshq {

namespace {

// RocksDB opens its files with mode 0644 (the umask may clear bits, never add them), so the
// mode is taken down right after creation; the directory holding them is already 0700, so no
// one else can reach a file in between.
rocksdb::IOStatus MakeOwnerOnly(rocksdb::IOStatus s, const std::string& path, unsigned mode) {
  if (s.ok() && ::chmod(path.c_str(), mode) != 0) {
    return rocksdb::IOStatus::IOError(path + ": chmod: " + std::strerror(errno));
  }
  return s;
}

class PrivateFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  explicit PrivateFileSystem(const std::shared_ptr<rocksdb::FileSystem>& target)
      : rocksdb::FileSystemWrapper(target) {}
  const char* Name() const override { return "MeshqPrivateFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    return MakeOwnerOnly(target()->NewWritableFile(f, o, r, dbg), f, kPrivateFileMode);
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override {
    return MakeOwnerOnly(target()->ReopenWritableFile(f, o, r, dbg), f, kPrivateFileMode);
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* dbg) override {
    return MakeOwnerOnly(target()->ReuseWritableFile(f, old, o, r, dbg), f, kPrivateFileMode);
  }
  rocksdb::IOStatus NewRandomRWFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    return MakeOwnerOnly(target()->NewRandomRWFile(f, o, r, dbg), f, kPrivateFileMode);
  }
  rocksdb::IOStatus LockFile(const std::string& f, const rocksdb::IOOptions& o,
                             rocksdb::FileLock** l, rocksdb::IODebugContext* dbg) override {
    return MakeOwnerOnly(target()->LockFile(f, o, l, dbg), f, kPrivateFileMode);
  }
  rocksdb::IOStatus CreateDir(const std::string& d, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* dbg) override {
    return MakeOwnerOnly(target()->CreateDir(d, o, dbg), d, kPrivateDirMode);
  }
  rocksdb::IOStatus CreateDirIfMissing(const std::string& d, const rocksdb::IOOptions& o,
                                       rocksdb::IODebugContext* dbg) override {
    return MakeOwnerOnly(target()->CreateDirIfMissing(d, o, dbg), d, kPrivateDirMode);
  }
};

}  // namespace

std::unique_ptr<rocksdb::Env> NewPrivateEnv() {
  return rocksdb::NewCompositeEnv(
      std::make_shared<PrivateFileSystem>(rocksdb::FileSystem::Default()));
}

}  // namespace meshq
