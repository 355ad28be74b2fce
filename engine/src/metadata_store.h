// MetadataStore: the engine's RocksDB database (dir/meta). It holds index metadata only — never
// message bytes. Key scheme (docs/engine-format.md):
//   "o/format"                   -> format version (decimal text)
//   "o/segments"                 -> segment count (decimal text)
//   "o/salt"                     -> 8-byte checksum seed
//   "c/" + seq(be64) + part(be32)-> checkpoint log record: queue catalogue and block-list
//                                   entries (checkpoint_log.h)
//   "t/" + segment(be32)         -> checkpointed tail: every indexed block below it is in the log
//   "u/" + key                   -> user metadata (QueueStore::PutMetadata)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "meshq/status.h"

namespace rocksdb {
class DB;
class Logger;
class Env;
class WriteBatch;
}  // namespace rocksdb

namespace meshq {

// 2: checkpoint records may hold trim entries (checkpoint_log.h). Format 1 stores open as 2.
inline constexpr int kFormatVersion = 2;

class MetadataStore {
 public:
  MetadataStore();
  ~MetadataStore();
  MetadataStore(const MetadataStore&) = delete;
  MetadataStore& operator=(const MetadataStore&) = delete;

  // `keep_recovered_log`: recovery leaves what it replays from the log in the memtable (flushed in
  // the normal course) instead of first writing it into a table file — up to write_buffer_size
  // bytes, which a full disk does not have. Reopens after a failed write do the same.
  Status Open(const std::string& path, bool read_only, bool keep_recovered_log = false,
              size_t write_buffer_bytes = 64u << 20);
  void Close();

  Status Get(std::string_view key, std::string* value);  // NotFound when absent
  Status Put(std::string_view key, std::string_view value, bool sync);
  // Makes every write so far durable (the unsynced ones too).
  Status SyncWal();
  // Calls fn(key, value) for every key starting with prefix, in key order; stops early and
  // returns fn's first non-OK status.
  Status Scan(std::string_view prefix,
              const std::function<Status(std::string_view, std::string_view)>& fn);

  // Accumulates writes and applies them atomically.
  class Batch {
   public:
    Batch();
    ~Batch();
    void Put(std::string_view key, std::string_view value);
    // Deletes every key in [begin, end); later Puts in the same batch are kept.
    void DeleteRange(std::string_view begin, std::string_view end);
    size_t count() const;
    rocksdb::WriteBatch* rep() { return rep_.get(); }

   private:
    std::unique_ptr<rocksdb::WriteBatch> rep_;
  };
  Status Write(Batch* batch, bool sync);

  // Writes a warning line to the database's info log (meta/LOG); nothing when read-only.
  void Warn(const std::string& line);

  static std::string TailKey(uint32_t segment);
  // A segment's tail (the end up to which its blocks are checkpointed): 8 bytes, little-endian.
  static std::string TailValue(uint64_t tail);
  static std::string UserKey(std::string_view key);

 private:
  // After a failed write (e.g. ENOSPC on the WAL) RocksDB keeps a sticky background error, and
  // Debian's build asserts on a second write to the failed WAL file; DB::Resume cannot clear WAL
  // errors in 7.8. So the next write first closes and reopens the database, which replays the
  // WAL up to the last complete record and starts a fresh one.
  Status ReopenIfFailed();
  void NoteWriteResult(const Status& s);

  std::string path_;
  bool read_only_ = false;
  bool failed_ = false;                // guarded by mu_ (exclusive)
  mutable std::shared_mutex mu_;       // shared: any use of db_; exclusive: reopen
  std::unique_ptr<rocksdb::Env> env_;  // files 0600 (private_file_system.h); outlives db_
  std::shared_ptr<rocksdb::Logger> info_log_;
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace meshq
