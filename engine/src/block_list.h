// BlockList: a queue's block list — BlockRefs in offset order, appended at the end, read by index
// and searched by offset. Up to kPageEntries refs (4,096, 32 KiB) it is one array grown
// geometrically, as a vector: a million small queues pay for what they hold. Past that, refs go
// into further pages of kPageEntries each, reached through a page directory, and nothing is
// copied again. A std::vector copied the whole list at each doubling, under the queue's lock: a
// broker's request queue gains a block per group commit, so in a long-running broker a doubling
// copied a long list while every Put and Get of that queue waited.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "block_ref.h"

namespace meshq {

class BlockList {
 public:
  static constexpr uint32_t kPageBits = 12;
  static constexpr size_t kPageEntries = size_t{1} << kPageBits;
  static constexpr size_t kPageMask = kPageEntries - 1;

  BlockList() = default;
  ~BlockList() {
    std::free(first_);
    for (size_t p = 0; p < pages(); ++p) std::free(pages_[p]);
    std::free(pages_);
  }
  BlockList(const BlockList&) = delete;
  BlockList& operator=(const BlockList&) = delete;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const BlockRef& operator[](size_t i) const {
    if (i < kPageEntries) return first_[i];
    return pages_[(i >> kPageBits) - 1][i & kPageMask];
  }

  // Throws std::bad_alloc when memory runs out, as the vector it replaces did.
  void push_back(const BlockRef& ref) {
    if (size_ < kPageEntries) {
      if (size_ == first_cap_) GrowFirst();
      first_[size_++] = ref;
      return;
    }
    const size_t page = (size_ >> kPageBits) - 1;
    if ((size_ & kPageMask) == 0) AddPage(page);
    pages_[page][size_ & kPageMask] = ref;
    ++size_;
  }
  void Append(const BlockRef* refs, size_t n) {
    for (size_t i = 0; i < n; ++i) push_back(refs[i]);
  }

  // Calls f(size_t first, const BlockRef* refs, size_t n) for the refs [from, to), one call per
  // contiguous run (refs[0] is entry `first`).
  template <typename F>
  void ForEachRun(size_t from, size_t to, F&& f) const {
    while (from < to) {
      const size_t run_end =
          std::min(to, from < kPageEntries ? kPageEntries : (from | kPageMask) + 1);
      f(from, &(*this)[from], run_end - from);
      from = run_end;
    }
  }

  // Heap bytes held (refs, pages and directory).
  size_t bytes() const {
    const size_t dir = pages() == 0 ? 0 : DirectoryCapacity(pages() - 1);
    return (first_cap_ + pages() * kPageEntries) * sizeof(BlockRef) + dir * sizeof(BlockRef*);
  }

 private:
  // Pages past the first one in use.
  size_t pages() const { return size_ <= kPageEntries ? 0 : ((size_ - 1) >> kPageBits); }
  // The directory holds a power of two of page pointers, at least page + 1.
  static size_t DirectoryCapacity(size_t page) {
    size_t cap = 1;
    while (cap < page + 1) cap *= 2;
    return cap;
  }

  void GrowFirst() {
    const size_t cap = std::min(kPageEntries, std::max<size_t>(4, size_t{first_cap_} * 2));
    auto* grown = static_cast<BlockRef*>(std::realloc(first_, cap * sizeof(BlockRef)));
    if (grown == nullptr) throw std::bad_alloc();
    first_ = grown;
    first_cap_ = static_cast<uint32_t>(cap);
  }
  void AddPage(size_t page) {
    if ((page & (page - 1)) == 0) {  // 0, 1, 2, 4, ...: the directory is full
      const size_t cap = DirectoryCapacity(page);
      auto* dir = static_cast<BlockRef**>(std::realloc(pages_, cap * sizeof(BlockRef*)));
      if (dir == nullptr) throw std::bad_alloc();
      pages_ = dir;
    }
    auto* fresh = static_cast<BlockRef*>(std::malloc(kPageEntries * sizeof(BlockRef)));
    if (fresh == nullptr) throw std::bad_alloc();
    pages_[page] = fresh;
  }

  BlockRef* first_ = nullptr;
  BlockRef** pages_ = nullptr;  // pages after the first
  uint32_t size_ = 0;
  uint32_t first_cap_ = 0;
};
static_assert(sizeof(BlockList) == 24, "the Queue holding it is ~1M x its size in memory");

}  // namespace meshq
