// Flusher threads: pop a chunk, pwrite its used prefix, retire it from the in-flight table.
#include "flusher.h"

#include <pthread.h>

#include "segment.h"

namespace meshq {

Flusher::Flusher(int threads, size_t max_pending_bytes) : max_pending_bytes_(max_pending_bytes) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

Flusher::~Flusher() { Stop(); }

void Flusher::Submit(std::shared_ptr<WriteChunk> chunk) {
  pending_bytes_.fetch_add(chunk->used, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    chunk->seq = next_seq_++;
    unwritten_.insert(chunk->seq);
    queue_.push_back(std::move(chunk));
  }
  work_cv_.notify_one();
}

void Flusher::WriteNow(std::shared_ptr<WriteChunk> chunk) {
  pending_bytes_.fetch_add(chunk->used, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    chunk->seq = next_seq_++;
    unwritten_.insert(chunk->seq);
  }
  if (!Write(std::move(chunk))) work_cv_.notify_one();  // a flusher thread starts the retries
}

uint64_t Flusher::next_seq() {
  std::lock_guard<std::mutex> lock(mu_);
  return next_seq_;
}

Status Flusher::WaitWritten(uint64_t limit) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (unwritten_.empty() || *unwritten_.begin() >= limit) return Status::OK();
    // Everything below the limit that is still unwritten has failed: report, do not wait.
    bool only_failed = true;
    for (uint64_t seq : unwritten_) {
      if (seq >= limit) break;
      if (failed_.find(seq) == failed_.end()) {
        only_failed = false;
        break;
      }
    }
    if (only_failed) return error_;
    done_cv_.wait(lock);
  }
}

void Flusher::RetryFailed() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Every Flush calls this: waking the idle threads for nothing cost a broker two futex
    // wake-ups and two context switches per group commit.
    if (failed_.empty()) return;
    for (auto& [seq, chunk] : failed_) queue_.push_back(std::move(chunk));
    failed_.clear();
  }
  work_cv_.notify_all();
}

Status Flusher::WaitForRoom() {
  std::unique_lock<std::mutex> lock(mu_);
  while (pending_bytes_.load(std::memory_order_relaxed) > max_pending_bytes_) {
    if (!error_.ok()) return error_;
    if (stopping_) break;
    done_cv_.wait(lock);
  }
  return Status::OK();
}

Status Flusher::error() {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

void Flusher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  done_cv_.notify_all();
}

void Flusher::Run() {
  pthread_setname_np(pthread_self(), "meshq-flusher");  // for top -H, perf and /proc
  for (;;) {
    std::shared_ptr<WriteChunk> chunk;
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!stopping_ && queue_.empty()) {
        if (failed_.empty()) {
          work_cv_.wait(lock);
        } else if (work_cv_.wait_for(lock, kRetryInterval) == std::cv_status::timeout) {
          // Failed writes (disk full, EIO) are retried in the background so the store
          // recovers by itself once the condition clears.
          for (auto& [seq, failed] : failed_) queue_.push_back(std::move(failed));
          failed_.clear();
        }
      }
      if (queue_.empty()) return;  // stopping, and everything queued is written
      chunk = std::move(queue_.front());
      queue_.pop_front();
    }
    Write(std::move(chunk));
  }
}

bool Flusher::Write(std::shared_ptr<WriteChunk> chunk) {
  Segment* seg = chunk->segment;
  Status s = seg->file().WriteAt(chunk->base, chunk->data, chunk->used);
  if (s.ok()) {
    seg->MarkDirty();
    seg->RemoveInFlight(chunk.get());
    pending_bytes_.fetch_sub(chunk->used, std::memory_order_relaxed);
    bytes_written_.Inc(chunk->used);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (s.ok()) {
      unwritten_.erase(chunk->seq);
      if (failed_.empty() && has_error_.load(std::memory_order_relaxed)) {
        // A retry went through and nothing else is failing: writes work again.
        error_ = Status::OK();
        has_error_.store(false, std::memory_order_relaxed);
      }
    } else {
      if (error_.ok()) error_ = s;
      has_error_.store(true, std::memory_order_relaxed);
      failed_[chunk->seq] = std::move(chunk);
    }
  }
  done_cv_.notify_all();
  return s.ok();
}

}  // namespace meshq
