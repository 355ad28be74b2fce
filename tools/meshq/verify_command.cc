// meshq verify: checks a store against itself — the index's structure (each queue's block list
// contiguous from offset 0), every indexed block (checksum, header against its index entry,
// message framing, below its segment's checkpointed tail, no two blocks overlapping), and the
// scan past the tails that the next Open would run. Holes are expected: space never written and
// space released by trims and recovery read as zeros; an indexed block that reads as zeros is a
// problem named as a hole.
#include <algorithm>
#include <string>
#include <vector>

#include "command_args.h"
#include "commands.h"
#include "store_view.h"

namespace meshq::cli {

namespace {

constexpr size_t kMaxProblemsShown = 100;

struct Extent {
  uint64_t begin;
  uint64_t end;
  uint32_t queue_id;
};

class Verifier {
 public:
  explicit Verifier(StoreView* view) : view_(*view) {}

  void Run() {
    problems_ = view_.problems();
    extents_.resize(view_.segment_count());
    for (const auto& [id, q] : view_.queues()) CheckQueue(q);
    CheckOverlaps();
    for (uint32_t i = 0; i < view_.segment_count(); ++i) {
      ViewSegment& seg = view_.segment(i);
      if (!seg.has_tail && !extents_[i].empty()) {
        problems_.push_back("segment " + std::to_string(i) +
                            " holds indexed blocks but has no checkpointed tail");
      }
    }
  }

  const std::vector<std::string>& problems() const { return problems_; }
  uint64_t blocks_checked() const { return blocks_checked_; }
  uint64_t messages() const { return messages_; }
  uint64_t live_bytes() const { return live_bytes_; }

 private:
  void Problem(const ViewQueue& q, size_t block, const std::string& what) {
    problems_.push_back("queue '" + Printable(q.name) + "' (id " + std::to_string(q.id) +
                        ") block " + std::to_string(block) + " at " +
                        view_.segment(q.segment).path + ":" +
                        std::to_string(uint64_t{q.blocks[block].unit} * kBlockUnit) + ": " + what);
  }

  void CheckQueue(const ViewQueue& q) {
    messages_ += q.count - q.start;
    if (q.blocks.empty()) {
      if (q.indexed_end > q.start) {
        problems_.push_back("queue '" + Printable(q.name) + "' claims " +
                            std::to_string(q.indexed_end) + " messages but has no blocks");
      }
      return;
    }
    const ViewSegment& seg = view_.segment(q.segment);
    if (!seg.present) return;  // reported as a missing segment file
    // A trimmed queue's list starts at the block holding its first kept message.
    uint64_t expect_first = 0;
    if (q.first_block > 0 || q.start > 0) {
      expect_first = q.blocks[0].first_offset;
      if (expect_first > q.start) {
        Problem(q, 0,
                "first kept block starts at offset " + std::to_string(expect_first) +
                    ", after the queue's first kept offset " + std::to_string(q.start));
      }
    }
    for (size_t i = 0; i < q.blocks.size(); ++i) {
      const BlockRef& ref = q.blocks[i];
      if (ref.first_offset != expect_first) {
        Problem(q, i,
                "index says it starts at offset " + std::to_string(ref.first_offset) +
                    " but the previous block ends at " + std::to_string(expect_first));
      }
      const uint64_t end = i + 1 < q.blocks.size()
                               ? q.blocks[i + 1].first_offset
                               : (i + 1 == q.indexed_blocks ? q.indexed_end : q.count);
      BlockHeader h;
      BlockCheck check;
      Status s = view_.ReadBlock(q.segment, ref.unit, &buf_, &h, &check);
      ++blocks_checked_;
      expect_first = end;
      if (!s.ok()) {
        Problem(q, i, s.ToString());
        continue;
      }
      if (check != BlockCheck::kOk) {
        const bool zeros =
            check == BlockCheck::kNotABlock && buf_.find_first_not_of('\0') == std::string::npos;
        Problem(q, i,
                zeros ? "reads as zeros: a hole (released space) where the index has a block"
                      : BlockCheckName(check));
        continue;
      }
      const uint64_t at = uint64_t{ref.unit} * kBlockUnit;
      extents_[q.segment].push_back({at, at + h.stored_bytes(), q.id});
      live_bytes_ += h.stored_bytes();
      if (h.queue_id != q.id || h.first_offset != ref.first_offset) {
        Problem(q, i,
                "header names queue id " + std::to_string(h.queue_id) + " offset " +
                    std::to_string(h.first_offset) + ", the index expects queue id " +
                    std::to_string(q.id) + " offset " + std::to_string(ref.first_offset));
        continue;
      }
      if (h.first_offset + h.count != end) {
        Problem(q, i,
                "holds offsets [" + std::to_string(h.first_offset) + ", " +
                    std::to_string(h.first_offset + h.count) + ") but the next block starts at " +
                    std::to_string(end));
      }
      if (i < q.indexed_blocks && seg.has_tail && at + h.stored_bytes() > seg.tail) {
        Problem(
            q, i,
            "indexed block ends past the segment's checkpointed tail " + std::to_string(seg.tail));
      }
      BlockMessageIterator it(buf_.data() + kBlockHeaderSize, h.payload_len, h.count);
      std::string_view m;
      bool error = false;
      while (it.Next(&m, &error)) {
      }
      if (error) Problem(q, i, "message framing does not match the header");
    }
  }

  void CheckOverlaps() {
    for (uint32_t s = 0; s < extents_.size(); ++s) {
      auto& ex = extents_[s];
      std::sort(ex.begin(), ex.end(),
                [](const Extent& a, const Extent& b) { return a.begin < b.begin; });
      for (size_t i = 1; i < ex.size(); ++i) {
        if (ex[i].begin < ex[i - 1].end) {
          problems_.push_back(view_.segment(s).path + ": blocks of queue ids " +
                              std::to_string(ex[i - 1].queue_id) + " and " +
                              std::to_string(ex[i].queue_id) + " overlap at offset " +
                              std::to_string(ex[i].begin));
        }
      }
    }
  }

  StoreView& view_;
  std::vector<std::string> problems_;
  std::vector<std::vector<Extent>> extents_;
  std::string buf_;
  uint64_t blocks_checked_ = 0;
  uint64_t messages_ = 0;
  uint64_t live_bytes_ = 0;
};

}  // namespace

int RunVerify(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::vector<std::string> positional;
  FlagSet flags("meshq verify",
                "Checks every block and the index of a store; exit 0 clean, 1 problems, 2 cannot\n"
                "open.",
                "DIR");
  flags.Positional(&positional);
  if (auto exit_code = ParseCommandArgs(flags, args, positional, 1, out, err)) return *exit_code;
  const std::string& dir = positional[0];
  StoreView view;
  Status s = view.Open(dir);
  if (s.IsCorruption()) {
    out << "verify " << dir << ": PROBLEM: " << s.ToString() << "\n";
    return kExitProblems;
  }
  if (!s.ok()) {
    err << "meshq verify: " << s.ToString() << "\n";
    return kExitUsage;
  }
  Verifier verifier(&view);
  verifier.Run();

  uint64_t past_tail = 0, adoptable = 0, torn_units = 0, file_bytes = 0, allocated = 0;
  for (uint32_t i = 0; i < view.segment_count(); ++i) {
    const ViewSegment& seg = view.segment(i);
    file_bytes += seg.file_bytes;
    allocated += seg.allocated_bytes;
    past_tail += seg.past_tail.size();
    adoptable += seg.adoptable;
    torn_units += seg.past_tail_counts.bad_units;
  }
  const auto& problems = verifier.problems();
  for (size_t i = 0; i < problems.size() && i < kMaxProblemsShown; ++i) {
    out << "PROBLEM: " << problems[i] << "\n";
  }
  if (problems.size() > kMaxProblemsShown) {
    out << "... and " << problems.size() - kMaxProblemsShown << " more problems\n";
  }
  out << "scan past the checkpointed tails: " << past_tail << " valid blocks (" << adoptable
      << " continue their queue and are adopted at the next open, " << past_tail - adoptable
      << " are leftovers of unacknowledged writes), " << torn_units
      << " torn or partial 1 KiB units\n";
  out << "space: " << verifier.live_bytes() << " bytes of indexed blocks, " << allocated
      << " allocated of " << file_bytes << " file bytes (the rest holes: never written, or "
      << "released by trims and recovery)\n";
  out << "verify " << dir << ": " << (problems.empty() ? "CLEAN" : "PROBLEMS FOUND") << ": "
      << view.queues().size() << " queues, " << verifier.messages() << " messages, "
      << verifier.blocks_checked() << " blocks checked in " << view.segment_count() << " segments, "
      << problems.size() << " problems\n";
  return problems.empty() ? kExitOk : kExitProblems;
}

}  // namespace meshq::cli
