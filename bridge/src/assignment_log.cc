// AssignmentLog: two alternating append-only files of assignment records.
#include "assignment_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "meshq/coding.h"

namespace meshq::bridge {
namespace {

constexpr size_t kHeaderSize = 8;

Status IoError(const std::string& path, const char* what) {
  return Status::IOError(path + ": " + what + ": " + std::strerror(errno));
}

// Reads a whole file; NotFound when it does not exist.
Status ReadFile(const std::string& path, std::string* out) {
  out->clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? Status::NotFound(path) : IoError(path, "open");
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = IoError(path, "read");
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return Status::OK();
}

Status WriteAll(int fd, const std::string& path, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return IoError(path, "write");
    data += w;
    n -= static_cast<size_t>(w);
  }
  return Status::OK();
}

}  // namespace

std::string AssignmentLog::Path(int file) const {
  return dir_ + "/assignments." + std::to_string(file);
}

Status AssignmentLog::Open(const std::string& dir, size_t capacity,
                           std::unique_ptr<AssignmentLog>* log,
                           std::vector<JournalRecord>* replay) {
  std::unique_ptr<AssignmentLog> l(new AssignmentLog(dir, capacity));
  struct File {
    bool present = false;
    uint64_t generation = 0;
    std::string bytes;
  } files[2];
  for (int i = 0; i < 2; ++i) {
    Status s = ReadFile(l->Path(i), &files[i].bytes);
    if (s.IsNotFound()) continue;
    if (!s.ok()) return s;
    if (files[i].bytes.size() < kHeaderSize) continue;  // cut before its header: empty
    files[i].present = true;
    files[i].generation = DecodeFixed64(files[i].bytes.data());
  }
  // Older first; the newer one is current.
  int order[2] = {0, 1};
  if (files[0].present && files[1].present && files[1].generation < files[0].generation) {
    order[0] = 1;
    order[1] = 0;
  } else if (files[0].present && !files[1].present) {
    order[0] = 1;
    order[1] = 0;
  }
  replay->clear();
  for (int i : order) {
    if (!files[i].present) continue;
    std::string_view rest(files[i].bytes);
    rest.remove_prefix(kHeaderSize);
    size_t n = 0;
    for (; rest.size() >= kRecordSize; rest.remove_prefix(kRecordSize), ++n) {
      JournalRecord r;
      if (!DecodeJournalRecord(rest.substr(0, kRecordSize), &r) ||
          (r.kind != JournalKind::kAssignment && r.kind != JournalKind::kRelease)) {
        break;
      }
      replay->push_back(r);
    }
    if (i == order[1]) l->records_ = n;
  }
  const int current = order[1];
  if (!files[current].present) {
    // A new log: file 0 with generation 1.
    l->current_ = 1;
    l->generation_ = 0;
    Status s = l->Switch();
    if (!s.ok()) return s;
    *log = std::move(l);
    return Status::OK();
  }
  l->current_ = current;
  l->generation_ = files[current].generation;
  const std::string path = l->Path(current);
  l->fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (l->fd_ < 0) return IoError(path, "open");
  // Appends go after the last whole record: a cut one is overwritten.
  if (::lseek(l->fd_, static_cast<off_t>(kHeaderSize + l->records_ * kRecordSize), SEEK_SET) < 0 ||
      ::ftruncate(l->fd_, static_cast<off_t>(kHeaderSize + l->records_ * kRecordSize)) != 0) {
    return IoError(path, "truncate");
  }
  *log = std::move(l);
  return Status::OK();
}

AssignmentLog::~AssignmentLog() {
  if (fd_ >= 0) ::close(fd_);
}

Status AssignmentLog::Switch() {
  const int next = 1 - current_;
  const std::string path = Path(next);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return IoError(path, "open");
  char header[kHeaderSize];
  EncodeFixed64(header, generation_ + 1);
  Status s = WriteAll(fd, path, header, sizeof(header));
  if (!s.ok()) {
    ::close(fd);
    return s;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  current_ = next;
  ++generation_;
  records_ = 0;
  return Status::OK();
}

Status AssignmentLog::Append(const std::vector<JournalRecord>& records) {
  std::string bytes, one;
  bytes.reserve(records.size() * kRecordSize);
  for (const JournalRecord& r : records) {
    EncodeJournalRecord(r, &one);
    bytes.append(one);
  }
  std::lock_guard lock(mu_);
  if (records_ >= capacity_) {
    Status s = Switch();
    if (!s.ok()) return s;
  }
  Status s = WriteAll(fd_, Path(current_), bytes.data(), bytes.size());
  if (s.ok()) records_ += records.size();
  return s;
}

}  // namespace meshq::bridge
