// The engine's read-side building blocks in isolation (engine/src, via meshq_engine_internal):
// decoding a verified block, finding the block of an offset, and finding a queue by name.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "block_format.h"
#include "block_ref.h"
#include "hash.h"
#include "message_generator.h"
#include "queue_table.h"
#include "workload.h"

namespace meshq::bench {
namespace {

// A full 4 KiB block of ~50-byte messages, as the engine writes them with default options.
struct EncodedBlock {
  std::vector<char> bytes;
  uint32_t count = 0;
};

EncodedBlock MakeBlock() {
  const MessageGenerator generator(1, 40, 60);
  std::string payload(4096, '\0'), m;
  char* p = payload.data();
  EncodedBlock block;
  for (;; ++block.count) {
    generator.Generate(1, block.count, &m);
    if (static_cast<size_t>(p - payload.data()) + FramedMessageSize(m.size()) >
        4096 - kBlockHeaderSize) {
      break;
    }
    p = AppendFramedMessage(p, m);
  }
  payload.resize(static_cast<size_t>(p - payload.data()));
  block.bytes.resize(BlockHeader::StoredBytes(static_cast<uint32_t>(payload.size())));
  EncodeBlock(block.bytes.data(), 1, 0, block.count, payload, 42);
  return block;
}

// Verify the checksum and walk every message: the CPU cost of serving a block once read.
void BM_BlockCheckAndDecode(benchmark::State& state) {
  const EncodedBlock block = MakeBlock();
  for (auto _ : state) {
    BlockHeader header;
    if (CheckBlock(block.bytes.data(), block.bytes.size(), 42, &header) != BlockCheck::kOk) {
      state.SkipWithError("block does not verify");
      break;
    }
    BlockMessageIterator it(block.bytes.data() + kBlockHeaderSize, header.payload_len,
                            header.count);
    std::string_view message;
    bool error = false;
    size_t bytes = 0;
    while (it.Next(&message, &error)) bytes += message.size();
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(state.iterations() * block.count);  // messages/s
  state.SetBytesProcessed(state.iterations() * block.bytes.size());
  state.counters["messages_per_block"] = block.count;
}
BENCHMARK(BM_BlockCheckAndDecode);

// Binary search of a queue's block list for a random offset. Arg = blocks in the queue (the
// contest's 2e9 messages over 1M queues is ~2,000 messages, ~30 blocks a queue).
void BM_FindBlock(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  std::vector<BlockRef> blocks(n);
  for (uint32_t i = 0; i < n; ++i) blocks[i] = {i * 4, i * 70};
  std::mt19937 rng(1);
  const uint64_t messages = uint64_t{n} * 70;
  for (auto _ : state) benchmark::DoNotOptimize(FindBlock(blocks, rng() % messages));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FindBlock)->Arg(4)->Arg(32)->Arg(1024)->Arg(65536);

// Name -> queue: hash plus the lock-free catalogue probe, at 1M queues (cache misses included).
void BM_QueueTableFind(benchmark::State& state) {
  static std::unique_ptr<QueueTable> table;
  constexpr uint32_t kQueues = 1000000;
  if (!table) {
    table = std::make_unique<QueueTable>(32);
    for (uint32_t q = 0; q < kQueues; ++q) {
      const QueueName name(q);
      table->FindOrCreate(name.view(), HashQueueName(name.view()));
    }
  }
  std::mt19937 rng(1);
  for (auto _ : state) {
    const QueueName name(rng() % kQueues);
    benchmark::DoNotOptimize(table->Find(name.view(), HashQueueName(name.view())));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_QueueTableFind);

}  // namespace
}  // namespace meshq::bench
