// MetadataStore over RocksDB.
#include "metadata_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "info_log.h"
#include "meshq/coding.h"
#include "posix_file.h"
#include "private_file_system.h"

namespace meshq {

namespace {
Status FromRocks(const rocksdb::Status& s, const std::string& path) {
  if (s.ok()) return Status::OK();
  if (s.IsNotFound()) return Status::NotFound(s.ToString());
  if (s.IsCorruption()) return Status::Corruption(path + ": " + s.ToString());
  if (s.IsBusy() || (s.IsIOError() && s.ToString().find("lock") != std::string::npos)) {
    return Status::Busy(path + ": " + s.ToString());
  }
  return Status::IOError(path + ": " + s.ToString());
}
}  // namespace

MetadataStore::MetadataStore() = default;
MetadataStore::~MetadataStore() { Close(); }

Status MetadataStore::Open(const std::string& path, bool read_only, bool keep_recovered_log,
                           size_t write_buffer_bytes) {
  path_ = path;
  read_only_ = read_only;
  rocksdb::Options options;
  options.create_if_missing = !read_only;
  // For RocksDB's logger, which only a read-only open uses.
  options.keep_log_file_num = 2;
  options.max_log_file_size = 1 << 20;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  if (!read_only) {
    Status d = CreateDirs(path);
    if (d.ok()) d = MakePrivate(path);
    if (!d.ok()) return d;
    // RocksDB's own logger aborts on a full disk (info_log.h); a read-only open writes nothing.
    if (!info_log_) {
      info_log_ =
          std::make_shared<InfoLog>(path + "/LOG", 1 << 20, rocksdb::InfoLogLevel::WARN_LEVEL);
    }
    options.info_log = info_log_;
    if (!env_) env_ = NewPrivateEnv();
    options.env = env_.get();
  }
  // Keeping the recovered log, Open writes only a new manifest, log and options file. Not by
  // default: each such Open leaves one more log file behind, replayed by every later Open until
  // a memtable fills and is flushed.
  options.avoid_flush_during_recovery = keep_recovered_log;
  // No space reserved ahead of writes (RocksDB preallocates its log by 1.1 write buffers, its
  // manifest by 4 MiB): on a nearly full disk that would take what Open's own writes need, and
  // a killed process leaves it allocated. The files here are small and synced at every Flush.
  options.allow_fallocate = false;
  // StoreOptions::metadata_write_buffer_bytes (Open of a read-only copy: the default).
  options.write_buffer_size = write_buffer_bytes;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = read_only ? rocksdb::DB::OpenForReadOnly(options, path, &db)
                                : rocksdb::DB::Open(options, path, &db);
  if (!s.ok()) return FromRocks(s, path);
  db_.reset(db);
  return Status::OK();
}

void MetadataStore::Close() {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (db_) {
    db_->Close();
    db_.reset();
  }
}

Status MetadataStore::ReopenIfFailed() {
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!failed_) return Status::OK();
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (!failed_) return Status::OK();
  if (db_) {
    db_->Close();  // may report the same error; the reopen below is what matters
    db_.reset();
  }
  // The write failed, most likely for lack of space: no table file from the replayed log.
  Status s = Open(path_, read_only_, /*keep_recovered_log=*/true);
  if (s.ok()) failed_ = false;
  return s;
}

void MetadataStore::NoteWriteResult(const Status& s) {
  if (s.ok() || s.IsNotFound()) return;
  std::unique_lock<std::shared_mutex> lock(mu_);
  failed_ = true;
}

Status MetadataStore::Get(std::string_view key, std::string* value) {
  Status r = ReopenIfFailed();
  if (!r.ok()) return r;
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (!db_) return Status::IOError(path_ + ": metadata database is not open");
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), value);
  return FromRocks(s, path_);
}

Status MetadataStore::Put(std::string_view key, std::string_view value, bool sync) {
  Batch batch;
  batch.Put(key, value);
  return Write(&batch, sync);
}

Status MetadataStore::Scan(std::string_view prefix,
                           const std::function<Status(std::string_view, std::string_view)>& fn) {
  Status r = ReopenIfFailed();
  if (!r.ok()) return r;
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (!db_) return Status::IOError(path_ + ": metadata database is not open");
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (!k.starts_with(rocksdb::Slice(prefix.data(), prefix.size()))) break;
    Status s = fn(std::string_view(k.data(), k.size()),
                  std::string_view(it->value().data(), it->value().size()));
    if (!s.ok()) return s;
  }
  return FromRocks(it->status(), path_);
}

MetadataStore::Batch::Batch() : rep_(std::make_unique<rocksdb::WriteBatch>()) {}
MetadataStore::Batch::~Batch() = default;
void MetadataStore::Batch::Put(std::string_view key, std::string_view value) {
  rep_->Put(rocksdb::Slice(key.data(), key.size()), rocksdb::Slice(value.data(), value.size()));
}
void MetadataStore::Batch::DeleteRange(std::string_view begin, std::string_view end) {
  rep_->DeleteRange(rocksdb::Slice(begin.data(), begin.size()),
                    rocksdb::Slice(end.data(), end.size()));
}
size_t MetadataStore::Batch::count() const { return static_cast<size_t>(rep_->Count()); }

Status MetadataStore::Write(Batch* batch, bool sync) {
  Status r = ReopenIfFailed();
  if (!r.ok()) return r;
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  Status s;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!db_) return Status::IOError(path_ + ": metadata database is not open");
    s = FromRocks(db_->Write(wo, batch->rep()), path_);
  }
  NoteWriteResult(s);
  return s;
}

Status MetadataStore::SyncWal() {
  Status r = ReopenIfFailed();
  if (!r.ok()) return r;
  Status s;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!db_) return Status::IOError(path_ + ": metadata database is not open");
    s = FromRocks(db_->SyncWAL(), path_);
  }
  NoteWriteResult(s);
  return s;
}

void MetadataStore::Warn(const std::string& line) {
  if (info_log_) rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, info_log_, "%s", line.c_str());
}

std::string MetadataStore::TailKey(uint32_t segment) {
  std::string k = "t/";
  PutBigEndian32(&k, segment);
  return k;
}

std::string MetadataStore::TailValue(uint64_t tail) {
  std::string v;
  PutFixed64(&v, tail);
  return v;
}

std::string MetadataStore::UserKey(std::string_view key) {
  std::string k = "u/";
  k.append(key);
  return k;
}

}  // namespace meshq
