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

void BM_EngineFlushAfterPuts(benchmark::State& state) {
  const auto queues = static_cast<uint32_t>(state.range(0));
  ScratchDir dir;
  StoreOptions options;
  options.dir = dir.path() + "/store";
  std::unique_ptr<QueueStore> store;
  Status s = QueueStore::Open(options, &store);
  if (!s.ok()) return state.SkipWithError(s.ToString().c_str());
  const std::string message(50, 'm');
  for (auto _ : state) {
    for (uint32_t q = 0; s.ok() && q < queues; ++q) {
      for (int i = 0; s.ok() && i < 8; ++i) s = store->Put(QueueName(q).view(), message);
    }
    if (s.ok()) s = store->Flush();
    if (!s.ok()) return state.SkipWithError(s.ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  store->Close();
}
BENCHMARK(BM_EngineFlushAfterPuts)->Arg(1)->Arg(4)->Arg(32)->Iterations(20000);

}  // namespace
}  // namespace meshq::bench
