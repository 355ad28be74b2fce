// RocksDbBenchStore: the peer meshq is measured against — what a user would build on RocksDB:
// key = big-endian queue id + big-endian offset, value = the message; a catalogue (queue name ->
// id) in its own column family; each queue's next offset in memory, recovered on open.
//
// Tuning, chosen to be fair rather than crippled: no WAL while sending (the phase ends with a
// memtable flush, so it is as durable as meshq's Flush), 128 MiB write buffers, no bloom filters
// (every Get is a range read, which blooms cannot serve), no compression (the payload is
// high-entropy; compressing it only burns the two cores), a 256 MiB block cache, and the default
// levelled compaction (its write amplification is RocksDB's real cost on this workload).
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_store.h"

namespace meshq::bench {
namespace {

constexpr char kCatalogue[] = "queues";
constexpr size_t kShards = 64;
constexpr size_t kKeySize = 8;

void EncodeKey(uint32_t id, uint32_t offset, char* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(id >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) out[4 + i] = static_cast<char>(offset >> (24 - 8 * i));
}

uint32_t DecodeBe32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(in[i]);
  return v;
}

Status FromRocks(const rocksdb::Status& s) {
  if (s.ok()) return Status::OK();
  if (s.IsCorruption()) return Status::Corruption("rocksdb: " + s.ToString());
  if (s.IsInvalidArgument()) return Status::InvalidArgument("rocksdb: " + s.ToString());
  return Status::IOError("rocksdb: " + s.ToString());
}

class RocksDbBenchStore final : public BenchStore {
 public:
  ~RocksDbBenchStore() override { Close(); }

  Status Open(const std::string& dir) {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    options.IncreaseParallelism(2);
    options.write_buffer_size = 128u << 20;
    options.max_write_buffer_number = 4;
    options.target_file_size_base = 128u << 20;
    options.max_bytes_for_level_base = 1u << 30;
    options.compression = rocksdb::kNoCompression;
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(256u << 20);
    table.filter_policy = nullptr;
    options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, options}, {kCatalogue, options}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    Status s = FromRocks(rocksdb::DB::Open(options, dir, families, &handles, &db));
    if (!s.ok()) return s;
    db_.reset(db);
    data_ = handles[0];
    catalogue_ = handles[1];
    return LoadCatalogue();
  }

  void BeginPhase(Phase phase) override { write_options_.disableWAL = phase == Phase::kSend; }

  Status Put(std::string_view queue, std::string_view message) override {
    Shard& shard = shards_[std::hash<std::string_view>()(queue) % kShards];
    uint32_t id = 0, offset = 0;
    bool created = false;
    {
      std::lock_guard<std::mutex> lock(shard.mu);
      auto it = shard.queues.find(queue);
      if (it == shard.queues.end()) {
        it = shard.queues.emplace(std::string(queue), QueueState{next_id_++, 0}).first;
        created = true;
      }
      id = it->second.id;
      offset = it->second.next++;
    }
    char key[kKeySize];
    EncodeKey(id, offset, key);
    if (!created) {
      return FromRocks(db_->Put(write_options_, data_, rocksdb::Slice(key, kKeySize),
                                rocksdb::Slice(message.data(), message.size())));
    }
    rocksdb::WriteBatch batch;
    char id_bytes[4];
    EncodeKey(id, 0, key);
    std::copy(key, key + 4, id_bytes);
    batch.Put(catalogue_, rocksdb::Slice(queue.data(), queue.size()), rocksdb::Slice(id_bytes, 4));
    batch.Put(data_, rocksdb::Slice(key, kKeySize), rocksdb::Slice(message.data(), message.size()));
    return FromRocks(db_->Write(write_options_, &batch));
  }

  Status Get(std::string_view queue, uint64_t offset, uint64_t max_count,
             MessageBatch* out) override {
    out->Clear();
    uint32_t id = 0;
    {
      Shard& shard = shards_[std::hash<std::string_view>()(queue) % kShards];
      std::lock_guard<std::mutex> lock(shard.mu);
      auto it = shard.queues.find(queue);
      if (it == shard.queues.end()) return Status::OK();
      id = it->second.id;
    }
    if (max_count == 0 || offset > UINT32_MAX) return Status::OK();
    char start[kKeySize], limit[kKeySize];
    EncodeKey(id, static_cast<uint32_t>(offset), start);
    EncodeKey(id + 1, 0, limit);
    rocksdb::Slice upper(limit, kKeySize);
    rocksdb::ReadOptions read_options;
    if (id != UINT32_MAX) read_options.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, data_));
    uint64_t expect = offset;
    out->set_first_offset(offset);
    for (it->Seek(rocksdb::Slice(start, kKeySize)); it->Valid() && out->size() < max_count;
         it->Next()) {
      const rocksdb::Slice key = it->key();
      // Offsets are dense; a gap would mean a lost write, and is returned as such (cut short).
      if (key.size() != kKeySize || DecodeBe32(key.data()) != id ||
          DecodeBe32(key.data() + 4) != expect) {
        break;
      }
      out->Append(std::string_view(it->value().data(), it->value().size()));
      ++expect;
    }
    return FromRocks(it->status());
  }

  Status Flush() override {
    rocksdb::FlushOptions flush;
    flush.wait = true;
    return FromRocks(db_->Flush(flush, {data_, catalogue_}));
  }

  Status Close() override {
    if (!db_) return Status::OK();
    Status s = FromRocks(db_->DestroyColumnFamilyHandle(data_));
    if (s.ok()) s = FromRocks(db_->DestroyColumnFamilyHandle(catalogue_));
    if (s.ok()) s = FromRocks(db_->Close());
    db_.reset();
    return s;
  }

 private:
  struct QueueState {
    uint32_t id;
    uint32_t next;
  };
  // Transparent, so a lookup by string_view does not allocate.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, QueueState, NameHash, std::equal_to<>> queues;
  };

  // Rebuilds the in-memory catalogue of a reopened store: ids from the catalogue family, each
  // queue's next offset from its last key.
  Status LoadCatalogue() {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), catalogue_));
    std::unique_ptr<rocksdb::Iterator> data(db_->NewIterator(rocksdb::ReadOptions(), data_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->value().size() != 4) return Status::Corruption("rocksdb catalogue: bad id");
      const uint32_t id = DecodeBe32(it->value().data());
      char last[kKeySize];
      EncodeKey(id, UINT32_MAX, last);
      uint32_t next = 0;
      data->SeekForPrev(rocksdb::Slice(last, kKeySize));
      if (data->Valid() && data->key().size() == kKeySize && DecodeBe32(data->key().data()) == id) {
        next = DecodeBe32(data->key().data() + 4) + 1;
      }
      const std::string name = it->key().ToString();
      shards_[std::hash<std::string_view>()(name) % kShards].queues.emplace(name,
                                                                            QueueState{id, next});
      if (id >= next_id_) next_id_ = id + 1;
    }
    if (!data->status().ok()) return FromRocks(data->status());
    return FromRocks(it->status());
  }

  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* data_ = nullptr;
  rocksdb::ColumnFamilyHandle* catalogue_ = nullptr;
  rocksdb::WriteOptions write_options_;
  std::array<Shard, kShards> shards_;
  std::atomic<uint32_t> next_id_{0};
};

}  // namespace

Status OpenRocksdbBenchStore(const std::string& dir, std::unique_ptr<BenchStore>* out) {
  auto store = std::make_unique<RocksDbBenchStore>();
  Status s = store->Open(dir);
  if (s.ok()) *out = std::move(store);
  return s;
}

}  // namespace meshq::bench
