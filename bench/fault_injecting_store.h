// FaultInjectingStore: a BenchStore decorator that damages one Get answer on purpose, so the
// harness can prove (meshq-bench --inject-fault, and its ctest) that its verifier catches a
// flipped byte, a wrong length, a wrong order and a missing message.
#pragma once

#include <atomic>
#include <memory>
#include <string_view>

#include "bench_store.h"

namespace meshq::bench {

enum class FaultKind { kNone, kFlipByte, kTruncate, kSwap, kDrop };
// "none", "flip", "truncate", "swap", "drop".
const char* FaultKindName(FaultKind kind);
bool ParseFaultKind(std::string_view name, FaultKind* kind);

// Rewrites `batch` with the fault applied (flip: one bit of the middle byte of message 0;
// truncate: message 0 loses its last byte; swap: messages 0 and 1 change places; drop: the last
// message is removed). Returns false when the batch is too small for the fault (swap needs 2
// messages, the others 1, flip and truncate a non-empty message 0). Pure.
bool ApplyFault(FaultKind kind, MessageBatch* batch);

class FaultInjectingStore final : public BenchStore {
 public:
  // Damages the first Get answer (from the `skip_gets`-th on) that the fault applies to.
  FaultInjectingStore(std::unique_ptr<BenchStore> inner, FaultKind kind, uint64_t skip_gets);

  void BeginPhase(Phase phase) override { inner_->BeginPhase(phase); }
  Status Put(std::string_view queue, std::string_view message) override {
    return inner_->Put(queue, message);
  }
  Status Get(std::string_view queue, uint64_t offset, uint64_t max_count,
             MessageBatch* out) override;
  Status Flush() override { return inner_->Flush(); }
  Status Close() override { return inner_->Close(); }

  bool injected() const { return injected_.load(); }

 private:
  std::unique_ptr<BenchStore> inner_;
  const FaultKind kind_;
  const uint64_t skip_gets_;
  std::atomic<uint64_t> gets_{0};
  std::atomic<bool> injected_{false};
};

}  // namespace meshq::bench
