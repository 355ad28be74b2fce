// FaultInjectingStore: the verifier's self-test.
#include "fault_injecting_store.h"

#include <string>
#include <utility>
#include <vector>

namespace meshq::bench {

const char* FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kNone:
      return "none";
    case FaultKind::kFlipByte:
      return "flip";
    case FaultKind::kTruncate:
      return "truncate";
    case FaultKind::kSwap:
      return "swap";
    case FaultKind::kDrop:
      return "drop";
  }
  return "?";
}

bool ParseFaultKind(std::string_view name, FaultKind* kind) {
  for (FaultKind k : {FaultKind::kNone, FaultKind::kFlipByte, FaultKind::kTruncate,
                      FaultKind::kSwap, FaultKind::kDrop}) {
    if (name == FaultKindName(k)) {
      *kind = k;
      return true;
    }
  }
  return false;
}

bool ApplyFault(FaultKind kind, MessageBatch* batch) {
  const size_t n = batch->size();
  if (kind == FaultKind::kNone || n == 0 || (kind == FaultKind::kSwap && n < 2)) return false;
  if ((kind == FaultKind::kFlipByte || kind == FaultKind::kTruncate) && (*batch)[0].empty()) {
    return false;
  }
  std::vector<std::string> messages;
  messages.reserve(n);
  for (size_t i = 0; i < n; ++i) messages.emplace_back((*batch)[i]);
  switch (kind) {
    case FaultKind::kFlipByte:
      messages[0][messages[0].size() / 2] ^= 0x01;
      break;
    case FaultKind::kTruncate:
      messages[0].pop_back();
      break;
    case FaultKind::kSwap:
      std::swap(messages[0], messages[1]);
      break;
    case FaultKind::kDrop:
      messages.pop_back();
      break;
    case FaultKind::kNone:
      break;
  }
  const uint64_t first = batch->first_offset();
  batch->Clear();
  batch->set_first_offset(first);
  for (const std::string& m : messages) batch->Append(m);
  return true;
}

FaultInjectingStore::FaultInjectingStore(std::unique_ptr<BenchStore> inner, FaultKind kind,
                                         uint64_t skip_gets)
    : inner_(std::move(inner)), kind_(kind), skip_gets_(skip_gets) {}

Status FaultInjectingStore::Get(std::string_view queue, uint64_t offset, uint64_t max_count,
                                MessageBatch* out) {
  Status s = inner_->Get(queue, offset, max_count, out);
  if (!s.ok() || gets_.fetch_add(1) < skip_gets_ || injected_.load()) return s;
  MessageBatch trial = *out;
  if (ApplyFault(kind_, &trial) && !injected_.exchange(true)) *out = std::move(trial);
  return s;
}

}  // namespace meshq::bench
