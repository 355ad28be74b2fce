// The harness's own per-message costs (generate, verify, queue sequencing), so a reader of
// meshq-bench's figures knows how much of each phase is the harness rather than the store.
#include <benchmark/benchmark.h>

#include <string>

#include "message_generator.h"
#include "queue_sequencer.h"
#include "verifier.h"
#include "workload.h"

namespace meshq::bench {
namespace {

void BM_GenerateMessage(benchmark::State& state) {
  const MessageGenerator generator(1, 40, 60);
  std::string buf;
  uint64_t offset = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        generator.Generate(static_cast<uint32_t>(offset % 100000), offset, &buf));
    ++offset;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GenerateMessage);

void BM_VerifyBatchOf10(benchmark::State& state) {
  const MessageGenerator generator(1, 40, 60);
  Verifier verifier(&generator);
  MessageBatch batch;
  std::string buf;
  batch.set_first_offset(100);
  for (uint64_t i = 0; i < 10; ++i) batch.Append(generator.Generate(7, 100 + i, &buf));
  for (auto _ : state) benchmark::DoNotOptimize(verifier.CheckBatch(7, 100, 10, batch));
  state.SetItemsProcessed(state.iterations() * 10);
}
BENCHMARK(BM_VerifyBatchOf10);

// The send loop's bookkeeping around each Put: counter, queue name, sequencer lock, message.
void BM_SendBookkeeping(benchmark::State& state) {
  static QueueSequencer* sequencer = nullptr;
  static std::atomic<uint64_t> counter{0};
  if (state.thread_index() == 0) sequencer = new QueueSequencer(100000);
  const MessageGenerator generator(1, 40, 60);
  std::string buf;
  for (auto _ : state) {
    const uint64_t c = counter.fetch_add(1, std::memory_order_relaxed);
    const uint32_t queue = static_cast<uint32_t>(c % 100000);
    const QueueName name(queue);
    const uint32_t offset = sequencer->Acquire(queue);
    benchmark::DoNotOptimize(generator.Generate(queue, offset, &buf));
    benchmark::DoNotOptimize(name.view().data());
    sequencer->Release(queue);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete sequencer;
    sequencer = nullptr;
  }
}
BENCHMARK(BM_SendBookkeeping)->Threads(1)->Threads(24)->UseRealTime();

}  // namespace
}  // namespace meshq::bench
