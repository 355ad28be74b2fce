// BlockList: a queue's block list — BlockRefs in offset order, appended at the end, dropped from
// the front by Trim, read by index and searched by offset. Indices are absolute: a block keeps
// its index for the queue's life (the checkpoint log names blocks by index), and the entries a
// trim dropped are simply no longer stored — the list holds [origin(), size()).
//
// Up to kPageEntries stored refs (4,096, 32 KiB) it is one array grown geometrically, as a
// vector: a million small queues pay for what they hold. Past that, refs go into further pages
// of kPageEntries each, reached through a page directory, and nothing is copied again. A
// std::vector copied the whole list at each doubling, under the queue's lock: a broker's request
// queue gains a block per group commit, so in a long-running broker a doubling copied a long
// list while every Put and Get of that queue waited. Dropping the front frees whole pages (the
// next page becomes the first array) and, when what is left in the first array is no more than
// what was dropped from it, copies it into a smaller one: a trimmed list holds at most about
// twice what a list of its live refs would, plus one page.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "block_ref.h"

namespace meshq {

class BlockList {
 public:
  static constexpr uint32_t kPageBits = 12;
  static constexpr size_t kPageEntries = size_t{1} << kPageBits;
  static constexpr size_t kPageMask = kPageEntries - 1;

  BlockList() = default;
  ~BlockList() { FreeAll(); }
  BlockList(const BlockList&) = delete;
  BlockList& operator=(const BlockList&) = delete;

  // One past the index of the last block (the index the next push_back gets).
  size_t size() const { return size_; }
  // Index of the first stored block; entries below it were dropped.
  size_t origin() const { return origin_; }
  // Stored entries.
  size_t stored() const { return size_ - origin_; }
  bool empty() const { return size_ == origin_; }
  // Requires origin() <= i < size().
  const BlockRef& operator[](size_t i) const {
    const size_t rel = i - origin_;
    if (rel < kPageEntries) return first_[rel];
    return pages_[(rel >> kPageBits) - 1][rel & kPageMask];
  }

  // Throws std::bad_alloc when memory runs out, as the vector it replaces did.
  void push_back(const BlockRef& ref) {
    const size_t rel = stored();
    if (rel < kPageEntries) {
      if (rel == FirstCapacity(rel)) GrowFirst(rel);
      first_[rel] = ref;
      ++size_;
      return;
    }
    const size_t page = (rel >> kPageBits) - 1;
    if ((rel & kPageMask) == 0) AddPage(page);
    pages_[page][rel & kPageMask] = ref;
    ++size_;
  }
  void Append(const BlockRef* refs, size_t n) {
    for (size_t i = 0; i < n; ++i) push_back(refs[i]);
  }

  // Drops (frees) the entries below index `keep`; they may no longer be read. A `keep` past
  // size() empties the list and moves its end there (recovery replaying a trim of blocks its
  // checkpoint never listed). Never copies more than kPageEntries / 2 refs.
  void DropBefore(size_t keep) {
    if (keep <= origin_) return;
    if (keep >= size_) {
      FreeAll();
      origin_ = size_ = static_cast<uint32_t>(keep);
      return;
    }
    // Whole first arrays below `keep` go; the next page takes the first array's place.
    bool promoted = false;
    while (keep - origin_ >= kPageEntries) {
      promoted = true;
      std::free(first_);
      first_ = pages_[0];
      const size_t rest = pages() - 1;  // pages still behind the directory (pages() >= 1)
      if (rest > 0 && rest < (size_t{1} << 32)) {
        std::memmove(pages_, pages_ + 1, rest * sizeof(BlockRef*));
      } else {
        std::free(pages_);
        pages_ = nullptr;
      }
      origin_ += kPageEntries;
    }
    if (promoted && stored() < kPageEntries) {
      // A page became the first array: give it the capacity its refs call for.
      auto* fitted =
          static_cast<BlockRef*>(std::realloc(first_, FirstCapacity(stored()) * sizeof(BlockRef)));
      if (fitted == nullptr) throw std::bad_alloc();
      first_ = fitted;
    }
    // What is left in the first array alone, and no more than the dropped part: copied into an
    // array of its size (amortized, a copy per dropped ref at most).
    const size_t live = size_ - keep;
    if (stored() <= kPageEntries && live * 2 <= stored()) {
      const size_t cap = FirstCapacity(live);
      auto* fresh = static_cast<BlockRef*>(std::malloc(cap * sizeof(BlockRef)));
      if (fresh == nullptr) throw std::bad_alloc();
      std::memcpy(fresh, first_ + (keep - origin_), live * sizeof(BlockRef));
      std::free(first_);
      first_ = fresh;
      origin_ = static_cast<uint32_t>(keep);
    }
  }

  // Calls f(size_t first, const BlockRef* refs, size_t n) for the refs [from, to), one call per
  // contiguous run (refs[0] is entry `first`). Requires origin() <= from.
  template <typename F>
  void ForEachRun(size_t from, size_t to, F&& f) const {
    while (from < to) {
      const size_t rel = from - origin_;
      const size_t run_end =
          std::min(to, origin_ + (rel < kPageEntries ? kPageEntries : (rel | kPageMask) + 1));
      f(from, &(*this)[from], run_end - from);
      from = run_end;
    }
  }

  // Heap bytes held (refs, pages and directory).
  size_t bytes() const {
    const size_t dir = pages() == 0 ? 0 : DirectoryCapacity(pages() - 1);
    return (FirstCapacity(stored()) + pages() * kPageEntries) * sizeof(BlockRef) +
           dir * sizeof(BlockRef*);
  }

 private:
  // Capacity of the first array holding `n` stored refs: derived, not stored, so the list stays
  // 24 bytes. 4, 8, ... doubling up to kPageEntries; 0 for none.
  static size_t FirstCapacity(size_t n) {
    if (n == 0) return 0;
    return std::min(kPageEntries, std::max<size_t>(4, std::bit_ceil(n)));
  }
  // Pages past the first one in use.
  size_t pages() const { return stored() <= kPageEntries ? 0 : ((stored() - 1) >> kPageBits); }
  // The directory holds a power of two of page pointers, at least page + 1.
  static size_t DirectoryCapacity(size_t page) { return std::bit_ceil(page + 1); }

  // Called when the first array holding `n` refs is full (or absent, n == 0).
  void GrowFirst(size_t n) {
    const size_t cap = FirstCapacity(n + 1);
    auto* grown = static_cast<BlockRef*>(std::realloc(first_, cap * sizeof(BlockRef)));
    if (grown == nullptr) throw std::bad_alloc();
    first_ = grown;
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
  void FreeAll() {
    std::free(first_);
    for (size_t p = 0; p < pages(); ++p) std::free(pages_[p]);
    std::free(pages_);
    first_ = nullptr;
    pages_ = nullptr;
  }

  BlockRef* first_ = nullptr;   // entries [origin_, origin_ + kPageEntries)
  BlockRef** pages_ = nullptr;  // pages after the first
  uint32_t size_ = 0;
  uint32_t origin_ = 0;
};
static_assert(sizeof(BlockList) == 24, "the Queue holding it is ~1M x its size in memory");

}  // namespace meshq
