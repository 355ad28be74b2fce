// Status formatting.
#include "meshq/status.h"

#include <cstring>

namespace meshq {

Status Status::IOError(std::string_view path, int err) {
  std::string msg(path);
  msg += ": ";
  msg += std::strerror(err);
  return Status(Code::kIOError, msg);
}

const char* Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kInvalidArgument:
      return "Invalid argument";
    case Code::kIOError:
      return "IO error";
    case Code::kCorruption:
      return "Corruption";
    case Code::kNotFound:
      return "Not found";
    case Code::kBusy:
      return "Busy";
    case Code::kClosed:
      return "Closed";
    case Code::kTimedOut:
      return "Timed out";
    case Code::kUnavailable:
      return "Unavailable";
    case Code::kPermissionDenied:
      return "Permission denied";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s = CodeName(code_);
  if (msg_ && !msg_->empty()) {
    s += ": ";
    s += *msg_;
  }
  return s;
}

}  // namespace meshq
