// StoreOptions: how a QueueStore is laid out and tuned. Defaults are right for ~50-byte messages
// over up to a million queues; each tunable says what it trades.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace meshq {

// The largest message Put accepts. Messages larger than a block get a block of their own
// (sized in 1 KiB units), so this bounds per-message memory, not the block size.
inline constexpr size_t kMaxMessageSize = 1u << 20;  // 1 MiB
// Queue names are 1..kMaxQueueNameSize bytes, any bytes.
inline constexpr size_t kMaxQueueNameSize = 255;
// A queue holds at most this many messages (offsets are 32-bit in the block index).
inline constexpr uint64_t kMaxMessagesPerQueue = 0xFFFFFFFFull;

struct StoreOptions {
  // Directory holding the segment files and the metadata database. Required.
  std::string dir;
  // Create `dir` (and parents) when it does not exist.
  bool create_if_missing = true;
  // Number of segment files; a power of two. Fixed when the store is created.
  uint32_t segment_count = 32;
  // Largest target size of a block (header included), a multiple of 1024. Larger blocks mean
  // fewer index entries and fewer read I/Os for consumers (a cold reader gets a block per read);
  // smaller ones cost less memory per open queue (each written queue keeps one open block in
  // memory, growing as it fills) and less bytes per random read. Blocks are sealed smaller than
  // this once the queues would not fit open_block_budget_bytes at this size.
  uint32_t block_size = 8192;
  // Memory for the open blocks (messages not yet sealed into a block, one block a written
  // queue). While queues x block_size fits it, blocks are block_size; past that they shrink
  // with the number of queues (to about 2 x budget / queues, at least 1 KiB) and start out of
  // step, so the open blocks of queues that grow alike stay near the budget (a skewed workload,
  // with some queues' blocks far fuller than others', may hold up to twice it). E.g. 1M queues
  // get 3 KiB blocks under the default, 100k queues full ones. While the queues fit, each keeps
  // its open buffer at up to block_size through seals (no allocation per block); past it the
  // buffers are freed when sealed. Less memory costs cold reads: smaller blocks, more read I/Os
  // a message.
  uint64_t open_block_budget_bytes = uint64_t{3} << 29;
  // Size of each per-thread, per-segment staging chunk written to disk in one pwrite.
  uint32_t write_chunk_size = 256 * 1024;
  // Threads that write staged chunks to the segment files.
  int flusher_threads = 2;
  // Bytes staged for writing (submitted, not yet on disk) above which Put waits for the
  // flushers: bounds memory when the disk is slower than the producers.
  size_t max_pending_bytes = 256u << 20;
  // Blocks of a queue prefetched (posix_fadvise WILLNEED) when a reader walks it forward. 0 = off.
  uint32_t read_ahead_blocks = 4;
  // Memory for keeping, per queue being read forward, the block its reader is in, so that a
  // consumer's small Gets read and verify each block once (one block a queue: size it for the
  // number of queues read at once, a block each — the contest's 200k queues read at once at a
  // million queues' 3 KiB blocks take 600 MB; over it, further queues are read uncached, a
  // read per Get). Only what is cached is allocated. 0 = off.
  uint64_t read_cache_bytes = uint64_t{1} << 30;
  // Write and read the segment files with direct I/O (O_DIRECT), bypassing the page cache:
  // the store's data then costs no page-cache memory, and all its disk traffic is issued by
  // the calling process (so per-process I/O limits such as a cgroup's apply to it). The price:
  // every read of a block not in the read cache goes to the disk, and segment writes are
  // padded to 4 KiB (up to 3 KiB of hole per Flush). The metadata database stays buffered.
  // Open fails with InvalidArgument on a file system without direct I/O. Not a property of
  // the store: it may be reopened either way.
  bool direct_io = false;
  // Memory the metadata database (RocksDB) may fill with index updates before it writes them
  // to a table file: a large one keeps a bulk load's block-list updates out of many tiny tables;
  // a long-running server with a steady trickle of updates wants a small one, or its memory
  // grows by this much before the first table write.
  size_t metadata_write_buffer_bytes = 64u << 20;
  // A Get returns at most this many bytes of messages (always at least one message when any
  // exists at the offset), whatever its max_count.
  size_t max_get_bytes = 4u << 20;
};

}  // namespace meshq
