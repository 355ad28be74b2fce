// The engine's read-side building blocks in isolation (engine/src, via meshq_engine_internal):
// decoding a verified block, finding the block of an offset, and finding a queue by name.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "block_format.h"
#include "block_list.h"
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
  BlockList blocks;
  for (uint32_t i = 0; i < n; ++i) blocks.push_back({i * 4, i * 70});
  std::mt19937 rng(1);
  const uint64_t messages = uint64_t{n} * 70;
  for (auto _ : state) benchmark::DoNotOptimize(FindBlock(blocks, rng() % messages));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FindBlock)->Arg(4)->Arg(32)->Arg(1024)->Arg(65536)->Arg(1 << 20);

// Appending to one queue's block list up to Arg entries (16M: a broker's request queue after about
// an hour of group commits, each sealing a block). What matters is the longest single append: it
// runs under the queue's lock, and every Put and Get of the queue waits for it. A vector copies
// the whole list at each doubling; BlockList never copies more than its first page. Counter
// max_append_us: the longest append seen (each one timed with steady_clock).
template <typename List>
void AppendLongest(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  int64_t longest_ns = 0;
  for (auto _ : state) {
    List list;
    for (uint32_t i = 0; i < n; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      list.push_back(BlockRef{i, i});
      longest_ns = std::max<int64_t>(longest_ns, (std::chrono::steady_clock::now() - t0).count());
    }
    benchmark::DoNotOptimize(list[n - 1]);
  }
  state.counters["max_append_us"] = static_cast<double>(longest_ns) / 1000;
  state.SetItemsProcessed(state.iterations() * n);
}
void BM_BlockListAppendVector(benchmark::State& state) {
  AppendLongest<std::vector<BlockRef>>(state);
}
void BM_BlockListAppend(benchmark::State& state) { AppendLongest<BlockList>(state); }
BENCHMARK(BM_BlockListAppendVector)->Arg(1 << 24)->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BlockListAppend)->Arg(1 << 24)->Iterations(3)->Unit(benchmark::kMillisecond);

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
