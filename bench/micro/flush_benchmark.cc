// The CPU of a Flush that follows a few puts, as a broker's group commit issues them (a request
// queue, a reply queue and the dedupe journal touched between two Flushes): the store is on tmpfs,
// where fdatasync costs nothing, so what is timed is the engine's own work — sealing the open
// blocks, writing the partly filled chunks, writing the checkpoint to RocksDB. Arg: queues touched.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "meshq/queue_store.h"
#include "store_fixture.h"
#include "workload.h"

namespace meshq::bench {
namespace {

// Per iteration: 8 puts into each of `touched` queues, then a Flush, in a store that already holds
// `existing` queues of one message each (checkpointed).
void FlushAfterPuts(benchmark::State& state, uint32_t existing, uint32_t touched, FlushMode mode) {
  ScratchDir dir;
  StoreOptions options;
  options.dir = dir.path() + "/store";
  std::unique_ptr<QueueStore> store;
  Status s = QueueStore::Open(options, &store);
  if (!s.ok()) return state.SkipWithError(s.ToString().c_str());
  const std::string message(50, 'm');
  for (uint32_t q = 0; s.ok() && q < existing; ++q) s = store->Put(QueueName(q).view(), message);
  if (s.ok() && existing > 0) s = store->Flush();
  if (!s.ok()) return state.SkipWithError(s.ToString().c_str());
  for (auto _ : state) {
    for (uint32_t q = 0; s.ok() && q < touched; ++q) {
      for (int i = 0; s.ok() && i < 8; ++i) s = store->Put(QueueName(q).view(), message);
    }
    if (s.ok()) s = store->Flush(mode);
    if (!s.ok()) return state.SkipWithError(s.ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  store->Close();
}

void BM_EngineFlushAfterPuts(benchmark::State& state) {
  FlushAfterPuts(state, 0, static_cast<uint32_t>(state.range(0)), FlushMode::kSync);
}
BENCHMARK(BM_EngineFlushAfterPuts)->Arg(1)->Arg(4)->Arg(32)->Iterations(20000);

// The CPU of a group commit in a store that holds many queues of which only one was written since
// the last Flush (a broker hosting a million queues, or any embedder that flushes often): what it
// costs should follow the queues written, not the queues that exist. Args: queues in the store,
// kSync (1) or kWrite (0).
void BM_EngineFlushOneOfManyQueues(benchmark::State& state) {
  FlushAfterPuts(state, static_cast<uint32_t>(state.range(0)), 1,
                 state.range(1) ? FlushMode::kSync : FlushMode::kWrite);
}
BENCHMARK(BM_EngineFlushOneOfManyQueues)
    ->ArgNames({"queues", "sync"})
    ->Args({1000, 0})
    ->Args({1000000, 0})
    ->Args({1000, 1})
    ->Args({1000000, 1})
    ->Iterations(300);

}  // namespace
}  // namespace meshq::bench
