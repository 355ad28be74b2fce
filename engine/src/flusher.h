// Flusher: background threads that write staged chunks to their segment files. Producers only
// wait when the bytes staged but not yet written exceed a bound (backpressure). A failed write
// (e.g. disk full) keeps its chunk in memory — still readable — and is retried by Flush.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "meshq/metrics.h"
#include "meshq/status.h"
#include "write_chunk.h"

namespace meshq {

class Flusher {
 public:
  Flusher(int threads, size_t max_pending_bytes);
  ~Flusher();
  Flusher(const Flusher&) = delete;
  Flusher& operator=(const Flusher&) = delete;

  // Queues a chunk for writing; never blocks. Assigns chunk->seq.
  void Submit(std::shared_ptr<WriteChunk> chunk);
  // Writes a chunk on the calling thread, with the same bookkeeping as a flusher thread's write
  // (a failed one is kept and retried the same way). Assigns chunk->seq.
  void WriteNow(std::shared_ptr<WriteChunk> chunk);
  // The sequence number the next submitted chunk will get.
  uint64_t next_seq();
  // Waits until every chunk with seq < limit is written. Returns the write error when one of
  // them failed (it stays queued for RetryFailed).
  Status WaitWritten(uint64_t limit);
  // Requeues chunks whose write failed now (the threads also retry them every kRetryInterval).
  // The error clears when a retry succeeds and nothing else is failing.
  void RetryFailed();
  // Backpressure for producers: waits while more than the bound is staged. Returns the write
  // error instead of waiting when writes are failing and the backlog is full.
  Status WaitForRoom();
  bool over_limit() const {
    return pending_bytes_.load(std::memory_order_relaxed) > max_pending_bytes_;
  }
  // The first write error since the last RetryFailed (OK when none).
  Status error();
  bool has_error() const { return has_error_.load(std::memory_order_relaxed); }
  size_t pending_bytes() const { return pending_bytes_.load(std::memory_order_relaxed); }
  // Bytes written to the segment files since the store opened.
  uint64_t bytes_written() const { return bytes_written_.Value(); }
  // Writes everything queued, then stops the threads.
  void Stop();

 private:
  void Run();
  // Writes one chunk and retires it, or keeps it as failed. Returns whether the write succeeded.
  bool Write(std::shared_ptr<WriteChunk> chunk);
  static constexpr std::chrono::milliseconds kRetryInterval{200};

  const size_t max_pending_bytes_;
  std::mutex mu_;
  std::condition_variable work_cv_;  // flushers wait for chunks
  std::condition_variable done_cv_;  // Flush and producers wait for progress
  std::deque<std::shared_ptr<WriteChunk>> queue_;
  std::set<uint64_t> unwritten_;  // seqs submitted and not yet written (queued, writing, failed)
  std::map<uint64_t, std::shared_ptr<WriteChunk>> failed_;
  uint64_t next_seq_ = 0;
  bool stopping_ = false;
  Status error_;
  std::atomic<bool> has_error_{false};
  std::atomic<size_t> pending_bytes_{0};
  Counter bytes_written_;
  std::vector<std::thread> threads_;
};

}  // namespace meshq
