// QueueStore: an embedded store of many append-only message queues.
//
// Messages of one queue are numbered from 0 in Put order and read back by offset. Data lives in
// segment files under StoreOptions::dir; RocksDB (dir/meta) holds only index metadata.
// See docs/engine-format.md for the on-disk layout.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "meshq/message_batch.h"
#include "meshq/options.h"
#include "meshq/status.h"

namespace meshq {

// Counters describing a store, for tools, benchmarks and metrics. A snapshot, not synchronized
// with concurrent Puts. The counts "since Open" start at 0 with each Open.
struct StoreStats {
  uint64_t queues = 0;
  uint64_t messages = 0;
  uint64_t blocks = 0;               // sealed blocks (on disk or staged)
  uint64_t open_block_bytes = 0;     // memory held by queues' open (unsealed) blocks
  uint64_t index_bytes = 0;          // memory of the queue catalogue and block lists
  uint64_t read_cache_bytes = 0;     // memory of blocks kept for forward readers
  uint64_t segment_bytes = 0;        // bytes reserved in segment files
  uint64_t pending_write_bytes = 0;  // staged, not yet written
  uint64_t recovered_blocks = 0;     // adopted by the last Open's scan past the checkpoint
  uint64_t discarded_blocks = 0;     // valid blocks the last Open's scan could not adopt
  uint64_t puts = 0;                 // messages stored by Put since Open
  uint64_t gets = 0;                 // Get calls since Open (empty ones included)
  uint64_t blocks_sealed = 0;        // blocks sealed (staged for writing) since Open
  uint64_t bytes_written = 0;        // bytes written to the segment files since Open
  uint64_t read_cache_hits = 0;      // sealed blocks a Get took from the read cache
  uint64_t read_cache_misses = 0;    // sealed blocks a Get read from staging memory or the file
};

// What a Flush guarantees once it returns OK.
enum class FlushMode : uint8_t {
  // Written and fdatasync'ed, checkpoint synced: survives a power loss or kernel crash.
  kSync,
  // Written to the operating system (no fdatasync): survives the process's crash or kill -9,
  // not a machine crash, after which the store opens with a prefix of each queue (what reached
  // the disk). Costs a few write calls instead of one fdatasync per touched segment file plus
  // the metadata's; the next kSync Flush makes it all durable.
  kWrite,
};

class QueueStore {
 public:
  // Opens (creating when allowed) the store in options.dir. Recovers what the last checkpoint
  // missed by scanning the segment tails. Errors: InvalidArgument (bad options, or options that
  // disagree with the existing store), Busy (another process has it open), IOError, Corruption.
  static Status Open(const StoreOptions& options, std::unique_ptr<QueueStore>* store);

  QueueStore(const QueueStore&) = delete;
  QueueStore& operator=(const QueueStore&) = delete;
  // Closes the store (see Close). Must not run concurrently with other calls.
  virtual ~QueueStore() = default;

  // Appends `message` (0..kMaxMessageSize bytes, any bytes) to `queue` (1..kMaxQueueNameSize
  // bytes), creating the queue on first use. Thread-safe; puts to one queue from several threads
  // are ordered as they take the queue's lock. The message is readable by Get as soon as Put
  // returns and durable after the next Flush. May block while the write backlog is full.
  // Errors: InvalidArgument, Closed, IOError (a background write failed; see Flush).
  virtual Status Put(std::string_view queue, std::string_view message) = 0;

  // Replaces *out with up to max_count messages of `queue` starting at `offset`, in Put order.
  // Fewer are returned at the end of the queue or when StoreOptions::max_get_bytes is reached
  // (at least one message is returned whenever one exists at `offset`). An unknown queue or an
  // offset past the end yields an empty batch and OK. Thread-safe, also with Puts to the same
  // queue: a concurrent reader sees a prefix of the queue. Errors: InvalidArgument, Closed,
  // Corruption (a block failed its checksum; no data from it is returned), IOError.
  virtual Status Get(std::string_view queue, uint64_t offset, uint64_t max_count,
                     MessageBatch* out) = 0;

  // Makes every message Put before this call durable: after Flush returns OK, a crash or
  // kill -9 followed by Open serves them all. Thread-safe. After a failed background write
  // (e.g. disk full) Flush retries it, and returns OK once everything is written.
  Status Flush() { return Flush(FlushMode::kSync); }
  // Flush with a chosen guarantee (see FlushMode). A kSync Flush also makes durable everything
  // earlier kWrite Flushes wrote.
  virtual Status Flush(FlushMode mode) = 0;

  // Flushes, then releases files and threads. Later calls return Closed. Idempotent. Calls
  // racing with Close either complete before it (a Put that returned OK is durable) or return
  // Closed; destroying the store while calls run is the caller's error.
  virtual Status Close() = 0;

  // Small durable key/value metadata beside the index (e.g. the broker's consumer offsets).
  // Keys are 1..255 bytes; values up to 1 MiB. PutMetadata is durable when it returns.
  virtual Status PutMetadata(std::string_view key, std::string_view value) = 0;
  // NotFound when the key was never written.
  virtual Status GetMetadata(std::string_view key, std::string* value) = 0;

  // Number of messages in `queue` (0 for an unknown queue).
  virtual uint64_t QueueSize(std::string_view queue) = 0;
  // Walks every queue (under each one's lock): cost grows with the number of queues.
  virtual StoreStats GetStats() = 0;
  // The failure of a background write that no retry has got through yet, during which Put
  // refuses messages (see Put and Flush); OK while writes work, and after Close. Cheap (no walk):
  // for health checks. Thread-safe.
  virtual Status BackgroundError() = 0;

 protected:
  QueueStore() = default;
};

}  // namespace meshq
