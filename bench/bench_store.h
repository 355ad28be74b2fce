// BenchStore: the queue-store interface the harness drives, so the same workload and verifier
// run over meshq and over the peer it is compared with (RocksDB). Implementations are
// thread-safe; the harness serializes puts to one queue, as the contest's tester does.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "meshq/message_batch.h"
#include "meshq/status.h"

namespace meshq::bench {

enum class StoreKind { kMeshq, kRocksdb };
const char* StoreKindName(StoreKind kind);

enum class Phase { kSend, kCheck, kConsume };
const char* PhaseName(Phase phase);

class BenchStore {
 public:
  virtual ~BenchStore() = default;
  // Called before each phase runs, e.g. so RocksDB writes without its WAL while sending.
  virtual void BeginPhase(Phase /*phase*/) {}
  // Appends `message` to `queue` (its next offset). Same contract as meshq::QueueStore::Put.
  virtual Status Put(std::string_view queue, std::string_view message) = 0;
  // Up to max_count messages of `queue` from `offset`; an unknown queue or an offset past the
  // end gives an empty batch. Same contract as meshq::QueueStore::Get.
  virtual Status Get(std::string_view queue, uint64_t offset, uint64_t max_count,
                     MessageBatch* out) = 0;
  // Everything put so far is durable and readable (ends the send phase, and is timed with it).
  virtual Status Flush() = 0;
  virtual Status Close() = 0;
};

// Opens (creating) the store of `kind` in `dir`; `direct_io` and `block_size` (0: the default)
// set meshq's StoreOptions (RocksDB ignores them).
Status OpenBenchStore(StoreKind kind, const std::string& dir, std::unique_ptr<BenchStore>* out,
                      bool direct_io = false, uint32_t block_size = 0);

Status OpenMeshqBenchStore(const std::string& dir, std::unique_ptr<BenchStore>* out,
                           bool direct_io = false, uint32_t block_size = 0);
Status OpenRocksdbBenchStore(const std::string& dir, std::unique_ptr<BenchStore>* out);

}  // namespace meshq::bench
