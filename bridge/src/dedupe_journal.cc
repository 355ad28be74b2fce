// Dedupe journal records: byte layout in docs/broker-protocol.md, "Dedupe window".
#include "dedupe_journal.h"

#include "dedupe_window.h"
#include "meshq/bridge/wire.h"

namespace meshq::bridge {

std::string DedupeJournalQueue(uint64_t generation) {
  return std::string(kReservedQueuePrefix) + "dedupe." + std::to_string(generation);
}

void EncodeJournalRecord(const JournalRecord& record, std::string* out) {
  out->clear();
  WireWriter w(out);
  w.U8(static_cast<uint8_t>(record.kind));
  w.U64(record.id);
  if (record.kind == JournalKind::kReply) {
    w.U64(record.reply_offset);
    w.Str16(record.reply_queue);
  } else if (record.kind == JournalKind::kAssignment || record.kind == JournalKind::kRelease) {
    w.U64(record.member);
  }
}

bool DecodeJournalRecord(std::string_view bytes, JournalRecord* out) {
  WireReader r(bytes);
  uint8_t kind = 0;
  if (!r.U8(&kind) || !r.U64(&out->id)) return false;
  switch (static_cast<JournalKind>(kind)) {
    case JournalKind::kRequest:
      break;
    case JournalKind::kReply:
      if (!r.U64(&out->reply_offset) || !r.Str16(&out->reply_queue)) return false;
      break;
    case JournalKind::kAssignment:
    case JournalKind::kRelease:
      if (!r.U64(&out->member) || out->member == 0) return false;
      break;
    default:
      return false;
  }
  out->kind = static_cast<JournalKind>(kind);
  return r.remaining() == 0;
}

}  // namespace meshq::bridge
