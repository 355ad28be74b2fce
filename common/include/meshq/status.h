// Status: the result of every fallible meshq call. Cheap on success (no allocation), and on
// failure it carries a code plus a message naming what failed.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace meshq {

class Status {
 public:
  enum class Code : unsigned char {
    kOk = 0,
    kInvalidArgument = 1,
    kIOError = 2,
    kCorruption = 3,
    kNotFound = 4,
    kBusy = 5,
    kClosed = 6,
    kTimedOut = 7,
    kUnavailable = 8,
    kPermissionDenied = 9,  // the caller may not do this (an ACL, a reply it was not handed)
  };

  Status() noexcept = default;  // OK

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string_view msg) {
    return Status(Code::kInvalidArgument, msg);
  }
  static Status IOError(std::string_view msg) { return Status(Code::kIOError, msg); }
  // An I/O failure of a named file, formatted "<path>: <strerror(err)>".
  static Status IOError(std::string_view path, int err);
  static Status Corruption(std::string_view msg) { return Status(Code::kCorruption, msg); }
  static Status NotFound(std::string_view msg) { return Status(Code::kNotFound, msg); }
  static Status Busy(std::string_view msg) { return Status(Code::kBusy, msg); }
  static Status Closed(std::string_view msg) { return Status(Code::kClosed, msg); }
  static Status TimedOut(std::string_view msg) { return Status(Code::kTimedOut, msg); }
  static Status Unavailable(std::string_view msg) { return Status(Code::kUnavailable, msg); }
  static Status PermissionDenied(std::string_view msg) {
    return Status(Code::kPermissionDenied, msg);
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsBusy() const { return code_ == Code::kBusy; }
  bool IsClosed() const { return code_ == Code::kClosed; }
  bool IsTimedOut() const { return code_ == Code::kTimedOut; }
  bool IsUnavailable() const { return code_ == Code::kUnavailable; }
  bool IsPermissionDenied() const { return code_ == Code::kPermissionDenied; }

  // The message alone, without the code name ("" when OK).
  std::string_view message() const { return msg_ ? std::string_view(*msg_) : std::string_view(); }
  // "OK", or "<Code name>: <message>", e.g. "IO error: /d/segment-03: No space left on device".
  std::string ToString() const;
  static const char* CodeName(Code code);

 private:
  Status(Code code, std::string_view msg)
      : code_(code), msg_(std::make_shared<const std::string>(msg)) {}

  Code code_ = Code::kOk;
  // Shared so copies are cheap; never mutated after construction.
  std::shared_ptr<const std::string> msg_;
};

}  // namespace meshq
