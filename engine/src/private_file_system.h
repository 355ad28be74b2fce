// PrivateFileSystem: the file system the metadata database (RocksDB) writes through. It is
// RocksDB's default one, except that every file it creates is made 0600 and every directory
// 0700 whatever the umask, as the engine's own files are: the index names every queue.
#pragma once

#include <rocksdb/env.h>

#include <memory>

namespace meshq {

// An Env for DBOptions::env that creates owner-only files. Lives as long as the databases using
// it; the process-wide default Env is left as it is.
std::unique_ptr<rocksdb::Env> NewPrivateEnv();

}  // namespace meshq
