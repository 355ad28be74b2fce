// Get of cached data: 10 messages from a random offset of a queue whose blocks are in memory
// (page cache on tmpfs), i.e. the index lookup + block read + decode path without a disk.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <string>

#include "meshq/queue_store.h"
#include "message_generator.h"
#include "store_fixture.h"
#include "workload.h"

namespace meshq::bench {
namespace {

constexpr uint32_t kQueues = 1000;
constexpr uint32_t kPerQueue = 2000;

struct GetShared {
  ScratchDir dir;
  std::unique_ptr<QueueStore> store;
};
GetShared* shared = nullptr;

void BM_EngineGet10Cached(benchmark::State& state) {
  if (state.thread_index() == 0) {
    shared = new GetShared;
    StoreOptions options;
    options.dir = shared->dir.path() + "/store";
    Status s = QueueStore::Open(options, &shared->store);
    const MessageGenerator generator(1, 40, 60);
    std::string buf;
    for (uint32_t m = 0; s.ok() && m < kPerQueue; ++m) {
      for (uint32_t q = 0; s.ok() && q < kQueues; ++q) {
        s = shared->store->Put(QueueName(q).view(), generator.Generate(q, m, &buf));
      }
    }
    if (s.ok()) s = shared->store->Flush();
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      shared->store.reset();
    }
  }
  std::mt19937_64 rng(state.thread_index() + 1);
  MessageBatch batch;
  for (auto _ : state) {
    if (!shared->store) break;
    const uint32_t q = static_cast<uint32_t>(rng() % kQueues);
    const uint64_t offset = rng() % (kPerQueue - 10);
    Status s = shared->store->Get(QueueName(q).view(), offset, 10, &batch);
    if (!s.ok() || batch.size() != 10) {
      state.SkipWithError(s.ok() ? "short Get" : s.ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    if (shared->store) shared->store->Close();
    delete shared;
    shared = nullptr;
  }
}
BENCHMARK(BM_EngineGet10Cached)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace meshq::bench
