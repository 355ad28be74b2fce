// MessageBatch: the messages returned by one Get, held in one buffer the batch owns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace meshq {

class MessageBatch {
 public:
  size_t size() const { return spans_.size(); }
  bool empty() const { return spans_.empty(); }
  // The i-th message (0 <= i < size()). Valid until the batch is modified or destroyed.
  std::string_view operator[](size_t i) const {
    return std::string_view(data_.data() + spans_[i].offset, spans_[i].length);
  }
  // Queue offset of the first message in the batch (meaningful when !empty()).
  uint64_t first_offset() const { return first_offset_; }
  // Total bytes of message data held.
  size_t bytes() const { return data_.size(); }

  void Clear() {
    data_.clear();
    spans_.clear();
    first_offset_ = 0;
  }
  void Append(std::string_view message) {
    spans_.push_back({data_.size(), message.size()});
    data_.append(message);
  }
  void set_first_offset(uint64_t offset) { first_offset_ = offset; }
  void Reserve(size_t messages, size_t bytes) {
    spans_.reserve(messages);
    data_.reserve(bytes);
  }

 private:
  struct Span {
    size_t offset;
    size_t length;
  };
  std::string data_;
  std::vector<Span> spans_;
  uint64_t first_offset_ = 0;
};

}  // namespace meshq
