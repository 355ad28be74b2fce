// Trim throughput: a store of 1,000 queues of 2,000 ~50-byte messages each (1 KiB blocks, as a
// broker's group commits leave them), trimmed by retention-sized steps of 100 messages, round
// robin over the queues, with a Flush every 100 trims — which checkpoints the trims and releases
// (hole-punches) the dropped blocks. Reports trimmed messages per second and, as counters, the
// blocks and bytes released. Store on tmpfs: what is timed is the engine's path plus the
// fallocate calls, not a disk.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "meshq/queue_store.h"
#include "message_generator.h"
#include "store_fixture.h"
#include "workload.h"

namespace meshq::bench {
namespace {

constexpr uint32_t kQueues = 1000;
constexpr uint32_t kPerQueue = 2000;
constexpr uint32_t kStep = 100;
constexpr int kTrimsPerFlush = 100;

void BM_EngineTrim(benchmark::State& state) {
  ScratchDir dir;
  StoreOptions options;
  options.dir = dir.path() + "/store";
  options.block_size = 1024;
  std::unique_ptr<QueueStore> store;
  Status s = QueueStore::Open(options, &store);
  const MessageGenerator generator(1, 40, 60);
  std::string buf;
  for (uint32_t m = 0; s.ok() && m < kPerQueue; ++m) {
    for (uint32_t q = 0; s.ok() && q < kQueues; ++q) {
      s = store->Put(QueueName(q).view(), generator.Generate(q, m, &buf));
    }
  }
  if (s.ok()) s = store->Flush();
  if (!s.ok()) {
    state.SkipWithError(s.ToString().c_str());
    return;
  }
  const StoreStats before = store->GetStats();
  uint64_t trims = 0;
  for (auto _ : state) {
    const uint32_t q = static_cast<uint32_t>(trims % kQueues);
    const uint64_t to = (trims / kQueues + 1) * kStep;
    s = store->Trim(QueueName(q).view(), to);
    if (s.ok() && ++trims % kTrimsPerFlush == 0) s = store->Flush();
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  if (s.ok()) s = store->Flush();
  const StoreStats after = store->GetStats();
  state.SetItemsProcessed(static_cast<int64_t>(trims * kStep));
  state.counters["blocks_released"] = static_cast<double>(after.released_blocks);
  state.counters["bytes_punched"] = static_cast<double>(after.punched_bytes);
  state.counters["allocated_before"] = static_cast<double>(before.allocated_bytes);
  state.counters["allocated_after"] = static_cast<double>(after.allocated_bytes);
}
// Every message of every queue trimmed once: (kPerQueue / kStep) x kQueues trims.
BENCHMARK(BM_EngineTrim)->Iterations(kQueues*(kPerQueue / kStep))->UseRealTime();

}  // namespace
}  // namespace meshq::bench
