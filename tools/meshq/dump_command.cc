// meshq dump: prints the messages of one queue, one per line: offset, length, and the bytes
// (printable with \xNN escapes, or hex with --hex). Every block is verified before it is used.
#include <cstdio>
#include <string>

#include "command_args.h"
#include "commands.h"
#include "store_view.h"

namespace meshq::cli {

namespace {

std::string Hex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(kDigits[u >> 4]);
    out.push_back(kDigits[u & 15]);
  }
  return out;
}

}  // namespace

int RunDump(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  uint64_t from = 0;
  uint64_t count = UINT64_MAX;
  bool hex = false;
  std::vector<std::string> positional;
  FlagSet flags("meshq dump", "Prints a queue's messages: offset, length, bytes.",
                "DIR QUEUE [flags]");
  flags.Int<uint64_t>("from", &from, 0, UINT64_MAX, "first offset printed");
  flags.Int<uint64_t>("count", &count, 0, UINT64_MAX, "messages printed at most");
  flags.Bool("hex", &hex, "the bytes in hex rather than printable with \\xNN escapes");
  flags.Positional(&positional);
  if (auto exit_code = ParseCommandArgs(flags, args, positional, 2, out, err)) return *exit_code;
  StoreView view;
  Status s = view.Open(positional[0]);
  if (!s.ok()) {
    err << "meshq dump: " << s.ToString() << "\n";
    return kExitUsage;
  }
  const ViewQueue* q = view.FindQueue(positional[1]);
  if (q == nullptr) {
    err << "meshq dump: no queue '" << Printable(positional[1]) << "' in " << view.dir() << "\n";
    return kExitProblems;
  }
  if (from < q->start) from = q->start;  // trimmed: from the first kept message
  if (from >= q->count || count == 0) {
    err << "meshq dump: queue '" << Printable(q->name) << "' has " << q->count
        << " messages; nothing at offset " << from << "\n";
    return kExitOk;
  }
  const uint64_t stop = count > q->count - from ? q->count : from + count;
  std::string buf;
  for (size_t i = FindBlock(q->blocks, from); i < q->blocks.size(); ++i) {
    const BlockRef& ref = q->blocks[i];
    if (ref.first_offset >= stop) break;
    BlockHeader h;
    BlockCheck check;
    s = view.ReadBlock(q->segment, ref.unit, &buf, &h, &check);
    if (s.ok() && check != BlockCheck::kOk) {
      s = Status::Corruption(BlockCheckName(check));
    } else if (s.ok() && (h.queue_id != q->id || h.first_offset != ref.first_offset)) {
      s = Status::Corruption("block belongs to another queue or offset than the index says");
    }
    if (!s.ok()) {
      err << "meshq dump: " << view.segment(q->segment).path << " at offset "
          << uint64_t{ref.unit} * kBlockUnit << ": " << s.ToString() << "\n";
      return kExitProblems;
    }
    BlockMessageIterator it(buf.data() + kBlockHeaderSize, h.payload_len, h.count);
    std::string_view m;
    bool error = false;
    for (uint64_t o = h.first_offset; o < stop && it.Next(&m, &error); ++o) {
      if (o < from) continue;
      out << o << '\t' << m.size() << '\t' << (hex ? Hex(m) : Printable(m)) << '\n';
    }
    if (error) {
      err << "meshq dump: malformed message framing in block at " << view.segment(q->segment).path
          << ":" << uint64_t{ref.unit} * kBlockUnit << "\n";
      return kExitProblems;
    }
  }
  return kExitOk;
}

}  // namespace meshq::cli
