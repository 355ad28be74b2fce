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
#include <vector>

#include "meshq/message_batch.h"
#include "meshq/options.h"
#include "meshq/status.h"

namespace meshq {

// Counters describing a store, for tools, benchmarks and metrics. A snapshot, not synchronized
// with concurrent Puts. The counts "since Open" start at 0 with each Open.
struct StoreStats {
  uint64_t queues = 0;
  uint64_t messages = 0;          // kept messages (below QueueSize, at or past QueueStart)
  uint64_t trimmed_messages = 0;  // messages below the queues' starts (QueueStart summed)
  uint64_t blocks = 0;            // sealed blocks the index references (on disk or staged)
  uint64_t open_block_bytes = 0;  // memory held by queues' open (unsealed) blocks
  uint64_t index_bytes = 0;       // memory of the queue catalogue and block lists
  uint64_t read_cache_bytes = 0;  // memory of blocks kept for forward readers
  uint64_t segment_bytes = 0;     // bytes reserved in segment files (their logical size)
  // Disk space of the segment files (st_blocks x 512): falls when trimmed or discarded blocks
  // are released (hole punching).
  uint64_t allocated_bytes = 0;
  // Bytes of the written blocks the index references, padding included: exact for what this
  // process wrote and released; an Open starts from allocated_bytes after recovery's releases
  // (the two then differ by file-system block rounding, and by earlier runs' trimmed blocks on a
  // file system that refuses hole punching).
  uint64_t live_bytes = 0;
  uint64_t released_blocks = 0;         // blocks whose space was released since Open
  uint64_t punched_bytes = 0;           // bytes of them the file system punched out
  uint64_t unpunched_bytes = 0;         // bytes of them it refused to punch (they stay allocated)
  uint64_t pending_release_blocks = 0;  // dropped by trims, released by the next Flush
  uint64_t pending_write_bytes = 0;     // staged, not yet written
  uint64_t recovered_blocks = 0;        // adopted by the last Open's scan past the checkpoint
  uint64_t discarded_blocks = 0;        // valid blocks the last Open's scan could not adopt
  uint64_t puts = 0;                    // messages stored by Put since Open
  uint64_t gets = 0;                    // Get calls since Open (empty ones included)
  uint64_t blocks_sealed = 0;           // blocks sealed (staged for writing) since Open
  uint64_t bytes_written = 0;           // bytes written to the segment files since Open
  uint64_t read_cache_hits = 0;         // sealed blocks a Get took from the read cache
  uint64_t read_cache_misses = 0;       // sealed blocks a Get read from staging memory or the file
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

  // Replaces *out with up to max_count messages of `queue` starting at max(offset,
  // QueueStart(queue)), in Put order: a Get below the first kept offset returns from the first
  // kept message, and out->first_offset() is always the offset of out[0] — compare it with
  // `offset` to learn that messages were trimmed. Fewer are returned at the end of the queue or
  // when StoreOptions::max_get_bytes is reached (at least one message is returned whenever one
  // exists there). An unknown queue or an offset at or past the end yields an empty batch and
  // OK. Thread-safe, also with Puts and Trims of the same queue: a concurrent reader sees a
  // contiguous run of the queue (a Trim racing the Get may or may not have cut its start).
  // Errors: InvalidArgument, Closed, Corruption (a block failed its checksum; no data from it is
  // returned), IOError.
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

  // Drops the messages of `queue` below `first_kept_offset` for good; offsets never change
  // (QueueSize stays the next offset, QueueStart becomes first_kept_offset). Trimming to the
  // current start or below is a no-op OK; trimming to QueueSize drops every message. Errors:
  // InvalidArgument for an unknown queue or an offset past QueueSize, Closed.
  //
  // Gets see the trim when Trim returns; the messages' memory (index entries, an open block
  // holding only trimmed messages, a cached block) is released then. The trim is durable after
  // the next Flush, whatever its FlushMode (a Flush carrying trims syncs, as kSync does); a
  // crash before that Flush may bring the trimmed messages back, never anything else. That
  // Flush then gives the disk space of every 1 KiB unit holding only trimmed messages back to
  // the file system (hole punching; on a file system that refuses it the space stays allocated,
  // StoreStats::unpunched_bytes). A queue trimmed to QueueSize costs, once that Flush is done,
  // what a queue that was just created costs. Thread-safe with every other call.
  virtual Status Trim(std::string_view queue, uint64_t first_kept_offset) = 0;

  // Number of messages in `queue` (0 for an unknown queue).
  virtual uint64_t QueueSize(std::string_view queue) = 0;
  // The first kept offset of `queue` (0 for a queue never trimmed or unknown). Messages
  // [QueueStart, QueueSize) are readable.
  virtual uint64_t QueueStart(std::string_view queue) = 0;
  // The catalogue, a page at a time: replaces *names with the names of the queues at positions
  // [from, *next), at most `max` positions, in the order the queues were created (a recovered
  // store keeps its recorded order). Positions never change while the store is open and a queue
  // created later gets a later one; some positions hold no queue (ids a crash left unused), so
  // names->size() may be below *next - from. The next page starts at *next; *next == from means
  // the walk is past the last queue created so far. A queue created during the call may be
  // missed by it (and is listed by a later walk). Every queue ever created is listed, also one
  // trimmed to empty. No lock is held between calls. Thread-safe. Errors: Closed.
  virtual Status ListQueues(uint64_t from, size_t max, std::vector<std::string>* names,
                            uint64_t* next) = 0;
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
