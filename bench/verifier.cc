// Verifier: the byte-exact check behind every Get of the benchmark.
#include "verifier.h"

#include <cstdio>
#include <cstring>

namespace meshq::bench {
namespace {
thread_local std::string tls_expected;
}  // namespace

Verifier::Verifier(const MessageGenerator* generator, size_t max_reports, bool print)
    : generator_(generator), max_reports_(max_reports), print_(print) {}

bool Verifier::CheckMessage(uint32_t queue, uint64_t offset, std::string_view got) {
  const std::string_view want = generator_->Generate(queue, offset, &tls_expected);
  if (got.size() == want.size() && std::memcmp(got.data(), want.data(), got.size()) == 0) {
    return true;
  }
  Report(Describe(*generator_, queue, offset, got));
  return false;
}

uint64_t Verifier::CheckBatch(uint32_t queue, uint64_t offset, uint64_t expected_count,
                              const MessageBatch& batch) {
  uint64_t problems = 0;
  if (batch.size() != expected_count) {
    ++problems;
    Report("queue " + std::to_string(queue) + " offset " + std::to_string(offset) + ": got " +
           std::to_string(batch.size()) + " messages, want " + std::to_string(expected_count));
  }
  if (!batch.empty() && batch.first_offset() != offset) {
    ++problems;
    Report("queue " + std::to_string(queue) + " offset " + std::to_string(offset) +
           ": batch first_offset() is " + std::to_string(batch.first_offset()));
  }
  const size_t n = batch.size() < expected_count ? batch.size() : expected_count;
  for (size_t i = 0; i < n; ++i) {
    if (!CheckMessage(queue, offset + i, batch[i])) ++problems;
  }
  return problems;
}

void Verifier::Report(const std::string& what) {
  const uint64_t n = mismatches_.fetch_add(1, std::memory_order_relaxed);
  if (n >= max_reports_) return;
  std::lock_guard<std::mutex> lock(mu_);
  reports_.push_back(what);
  if (print_) std::fprintf(stderr, "\nMISMATCH: %s\n", what.c_str());
}

std::vector<std::string> Verifier::reports() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reports_;
}

std::string Verifier::Describe(const MessageGenerator& generator, uint32_t queue, uint64_t offset,
                               std::string_view got) {
  std::string want;
  generator.Generate(queue, offset, &want);
  std::string where = "queue " + std::to_string(queue) + " offset " + std::to_string(offset) + ": ";
  // A whole message of the workload in the wrong place (reordered, another queue's) says more
  // than a byte diff.
  uint32_t tag_queue = 0, tag_offset = 0;
  if (MessageGenerator::DecodeTag(got, &tag_queue, &tag_offset) &&
      (tag_queue != queue || tag_offset != static_cast<uint32_t>(offset))) {
    std::string other;
    if (generator.Generate(tag_queue, tag_offset, &other) == got) {
      return where + "got the message of queue " + std::to_string(tag_queue) + " offset " +
             std::to_string(tag_offset) + " (misplaced or out of order)";
    }
  }
  if (got.size() != want.size()) {
    return where + "wrong length " + std::to_string(got.size()) + ", want " +
           std::to_string(want.size());
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) {
      char buf[96];
      std::snprintf(buf, sizeof(buf), "byte %zu is 0x%02x, want 0x%02x (length %zu)", i,
                    static_cast<unsigned char>(got[i]), static_cast<unsigned char>(want[i]),
                    got.size());
      return where + buf;
    }
  }
  return where + "identical (no mismatch)";
}

}  // namespace meshq::bench
