// AssignmentLog: the broker's record of which responder each request was handed to (and which
// it gave back), written with one write(2) before the answer that hands the requests out. Data
// written that way survives the broker's kill -9 (it is in the page cache), so a request reaches
// a responder only once the broker will remember whom it went to, without waiting for a Flush.
// Not fdatasync'ed: a crash of the machine may lose the newest records (the dedupe journal's
// copies, flushed once per offset cycle, bound that loss).
//
// Two files in the store directory, "assignments.0" and "assignments.1", each an 8-byte
// generation (u64) followed by 17-byte records (dedupe_journal.h kinds 3 and 4). When the current
// file holds `capacity` records the other one is truncated and becomes current with the next
// generation, so the log keeps at least the last `capacity` records. A short or invalid record
// ends a file's replay (a write cut by a crash).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dedupe_journal.h"
#include "meshq/status.h"

namespace meshq::bridge {

class AssignmentLog {
 public:
  // Opens (creating when absent) the log under `dir`; *replay gets its records, oldest first.
  static Status Open(const std::string& dir, size_t capacity, std::unique_ptr<AssignmentLog>* log,
                     std::vector<JournalRecord>* replay);
  ~AssignmentLog();
  AssignmentLog(const AssignmentLog&) = delete;
  AssignmentLog& operator=(const AssignmentLog&) = delete;

  // Writes the records (kAssignment / kRelease) with one write(2). Thread-safe.
  Status Append(const std::vector<JournalRecord>& records);

  static constexpr size_t kRecordSize = 17;

 private:
  AssignmentLog(std::string dir, size_t capacity) : dir_(std::move(dir)), capacity_(capacity) {}
  Status Switch();  // makes the other file current, truncated, with the next generation
  std::string Path(int file) const;

  const std::string dir_;
  const size_t capacity_;
  std::mutex mu_;
  int fd_ = -1;
  int current_ = 0;  // which file fd_ is
  uint64_t generation_ = 0;
  size_t records_ = 0;  // in the current file
};

}  // namespace meshq::bridge
