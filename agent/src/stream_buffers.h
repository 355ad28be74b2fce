// The two buffers every agent connection has: ReadBuffer (bytes received, not yet decoded) and
// WriteBatch (frames appended during an event-loop turn, written together by one async_write
// while the previous write is still in flight).
#pragma once

#include <boost/asio/buffer.hpp>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace meshq::agent {

class ReadBuffer {
 public:
  // Space for the next read, grown so that at least `min_free` bytes are free.
  boost::asio::mutable_buffer Prepare(size_t min_free = 16 * 1024) {
    if (bytes_.size() - used_ < min_free)
      bytes_.resize(std::max(bytes_.size() * 2, used_ + min_free));
    return boost::asio::buffer(bytes_.data() + used_, bytes_.size() - used_);
  }
  void Commit(size_t n) { used_ += n; }
  std::string_view data() const { return std::string_view(bytes_.data(), used_); }
  // Drops the first `n` decoded bytes (the rest moves to the front; usually nothing is left).
  void Consume(size_t n) {
    if (n == 0) return;
    std::memmove(bytes_.data(), bytes_.data() + n, used_ - n);
    used_ -= n;
  }

 private:
  std::string bytes_;
  size_t used_ = 0;
};

class WriteBatch {
 public:
  // Append frames here.
  std::string* out() { return &out_; }
  // The id of the batch now being appended; batches with smaller ids were handed to the socket.
  uint64_t batch() const { return batch_; }
  bool writing() const { return writing_; }
  // A write of this batch is scheduled to start at the end of the event-loop turn.
  bool scheduled() const { return scheduled_; }
  void set_scheduled(bool scheduled) { scheduled_ = scheduled; }
  // When no write is in flight and bytes wait: makes them the in-flight batch and returns the
  // bytes to write (valid until End()); nullptr otherwise.
  const std::string* Begin() {
    if (writing_ || out_.empty()) return nullptr;
    writing_ = true;
    in_flight_.swap(out_);
    out_.clear();
    ++batch_;
    return &in_flight_;
  }
  // The in-flight write completed (or failed).
  void End() {
    writing_ = false;
    in_flight_.clear();
  }

 private:
  std::string out_;
  std::string in_flight_;
  uint64_t batch_ = 1;
  bool writing_ = false;
  bool scheduled_ = false;
};

}  // namespace meshq::agent
