// MeshqBenchStore: the harness's view of meshq::QueueStore (engine/include/meshq/queue_store.h),
// opened with its default options — the configuration a user gets — or with direct I/O or
// another block size.
#include <memory>

#include "bench_store.h"
#include "meshq/queue_store.h"

namespace meshq::bench {
namespace {

class MeshqBenchStore final : public BenchStore {
 public:
  explicit MeshqBenchStore(std::unique_ptr<QueueStore> store) : store_(std::move(store)) {}

  Status Put(std::string_view queue, std::string_view message) override {
    return store_->Put(queue, message);
  }
  Status Get(std::string_view queue, uint64_t offset, uint64_t max_count,
             MessageBatch* out) override {
    return store_->Get(queue, offset, max_count, out);
  }
  Status Flush() override { return store_->Flush(); }
  Status Close() override { return store_->Close(); }

 private:
  std::unique_ptr<QueueStore> store_;
};

}  // namespace

Status OpenMeshqBenchStore(const std::string& dir, std::unique_ptr<BenchStore>* out, bool direct_io,
                           uint32_t block_size) {
  StoreOptions options;
  options.dir = dir;
  options.direct_io = direct_io;
  if (block_size != 0) options.block_size = block_size;
  std::unique_ptr<QueueStore> store;
  Status s = QueueStore::Open(options, &store);
  if (s.ok()) *out = std::make_unique<MeshqBenchStore>(std::move(store));
  return s;
}

}  // namespace meshq::bench
