// BenchStore: names of kinds and phases, and the factory.
#include "bench_store.h"

namespace meshq::bench {

const char* StoreKindName(StoreKind kind) {
  return kind == StoreKind::kMeshq ? "meshq" : "rocksdb";
}

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kSend:
      return "send";
    case Phase::kCheck:
      return "check";
    case Phase::kConsume:
      return "consume";
  }
  return "?";
}

Status OpenBenchStore(StoreKind kind, const std::string& dir, std::unique_ptr<BenchStore>* out,
                      bool direct_io, uint32_t block_size) {
  return kind == StoreKind::kMeshq ? OpenMeshqBenchStore(dir, out, direct_io, block_size)
                                   : OpenRocksdbBenchStore(dir, out);
}

}  // namespace meshq::bench
