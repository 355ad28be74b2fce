// meshq inspect: what a store holds — queues, messages, blocks, and per segment the bytes of the
// referenced blocks (live), the file's size and the disk space it occupies (allocated: less than
// the size by its holes — space never written and space released by trims and recovery), and
// the fill ratio (payload bytes / live bytes, padding included).
#include <cstdio>
#include <string>
#include <unordered_map>

#include "command_args.h"
#include "commands.h"
#include "store_view.h"

namespace meshq::cli {

namespace {

struct SegmentTotals {
  uint64_t queues = 0;
  uint64_t messages = 0;  // kept (not trimmed)
  uint64_t trimmed = 0;
  uint64_t blocks = 0;
  uint64_t unreadable_blocks = 0;  // indexed, but the scan found no valid block there
  uint64_t payload_bytes = 0;
  uint64_t live_bytes = 0;  // what the referenced blocks occupy
  uint64_t file_bytes = 0;
  uint64_t allocated_bytes = 0;

  void Add(const SegmentTotals& o) {
    queues += o.queues;
    messages += o.messages;
    trimmed += o.trimmed;
    blocks += o.blocks;
    unreadable_blocks += o.unreadable_blocks;
    payload_bytes += o.payload_bytes;
    live_bytes += o.live_bytes;
    file_bytes += o.file_bytes;
    allocated_bytes += o.allocated_bytes;
  }
};

std::string Row(const std::string& label, const SegmentTotals& t) {
  char line[256];
  const double fill = t.live_bytes ? double(t.payload_bytes) / double(t.live_bytes) : 0.0;
  std::snprintf(line, sizeof(line), "%-8s %8llu %12llu %9llu %14llu %14llu %14llu %14llu %6.3f\n",
                label.c_str(), static_cast<unsigned long long>(t.queues),
                static_cast<unsigned long long>(t.messages),
                static_cast<unsigned long long>(t.blocks),
                static_cast<unsigned long long>(t.payload_bytes),
                static_cast<unsigned long long>(t.live_bytes),
                static_cast<unsigned long long>(t.allocated_bytes),
                static_cast<unsigned long long>(t.file_bytes), fill);
  return line;
}

}  // namespace

int RunInspect(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  bool list_queues = false;
  std::vector<std::string> positional;
  FlagSet flags(
      "meshq inspect",
      "Queues, messages, blocks, live and allocated bytes and fill ratio per segment\nof a store.",
      "DIR [flags]");
  flags.Bool("queues", &list_queues, "also list every queue");
  flags.Positional(&positional);
  if (auto exit_code = ParseCommandArgs(flags, args, positional, 1, out, err)) return *exit_code;
  StoreView view;
  Status s = view.Open(positional[0]);
  if (!s.ok()) {
    err << "meshq inspect: " << s.ToString() << "\n";
    return kExitUsage;
  }

  std::vector<SegmentTotals> totals(view.segment_count());
  for (uint32_t i = 0; i < view.segment_count(); ++i) {
    ViewSegment& seg = view.segment(i);
    totals[i].file_bytes = seg.file_bytes;
    totals[i].allocated_bytes = seg.allocated_bytes;
    if (!seg.present) continue;
    // One sequential scan of the whole file gives every block header by offset.
    std::vector<ScannedBlock> found;
    ScanCounts counts;
    s = ScanSegmentFile(seg.file, 0, view.salt(), &found, &counts);
    if (!s.ok()) {
      err << "meshq inspect: " << s.ToString() << "\n";
      return kExitUsage;
    }
    std::unordered_map<uint64_t, BlockHeader> by_offset;
    for (const auto& b : found) by_offset.emplace(b.offset, b.header);
    for (const auto& [id, q] : view.queues()) {
      if (q.segment != i) continue;
      SegmentTotals& t = totals[i];
      t.queues++;
      t.messages += q.count - q.start;
      t.trimmed += q.start;
      t.blocks += q.blocks.size();
      for (const BlockRef& ref : q.blocks) {
        auto it = by_offset.find(uint64_t{ref.unit} * kBlockUnit);
        if (it == by_offset.end()) {
          t.unreadable_blocks++;
          continue;
        }
        t.payload_bytes += it->second.payload_len;
        t.live_bytes += it->second.stored_bytes();
      }
    }
  }

  SegmentTotals all;
  uint64_t adoptable = 0;
  for (uint32_t i = 0; i < view.segment_count(); ++i) {
    all.Add(totals[i]);
    adoptable += view.segment(i).adoptable;
  }
  out << "store " << view.dir() << ": format " << view.format() << ", " << view.segment_count()
      << " segments\n";
  out << "queues " << all.queues << ", messages " << all.messages << " (" << all.trimmed
      << " more trimmed), blocks " << all.blocks << " (" << adoptable
      << " past the checkpoint, adopted at the next open)\n";
  out << "segment    queues     messages    blocks  payload_bytes     live_bytes allocated_bytes"
         "     file_bytes   fill\n";
  for (uint32_t i = 0; i < view.segment_count(); ++i) out << Row(std::to_string(i), totals[i]);
  out << Row("total", all);
  if (all.unreadable_blocks > 0) {
    out << "warning: " << all.unreadable_blocks
        << " indexed blocks are unreadable; run `meshq verify`\n";
  }
  for (const auto& p : view.problems()) out << "warning: " << p << "\n";

  if (list_queues) {
    out << "queue_id segment        start         size    blocks name\n";
    for (const auto& [id, q] : view.queues()) {
      char line[112];
      std::snprintf(line, sizeof(line), "%8u %7u %12llu %12llu %9zu ", id, q.segment,
                    static_cast<unsigned long long>(q.start),
                    static_cast<unsigned long long>(q.count), q.blocks.size());
      out << line << Printable(q.name) << "\n";
    }
  }
  return kExitOk;
}

}  // namespace meshq::cli
