// Log: the servers' diagnostics, one line per event on stderr in logfmt:
//   ts=2026-12-02T00:01:02.345Z level=warn component=registry msg="watch failed" key=/svc error="IO
//   error: connection refused"
// Every line has ts (RFC 3339, UTC, milliseconds), level, component and msg first, then the
// event's own key=value fields; a value with a space, quote, '=' or control character, or an
// empty one, is quoted with Go-style escapes. Thread-safe: each line is formatted apart and
// written with one write(2), so lines of several threads never interleave. What a script reads
// (a printed "listening on" port, stats) stays on stdout, not here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "meshq/status.h"

namespace meshq {

class FlagSet;

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn", "error"; false for anything else.
bool ParseLogLevel(std::string_view text, LogLevel* level);
std::string_view LogLevelName(LogLevel level);

// The process-wide threshold (default info): events below it are not written.
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
// Where lines go (default 2, stderr); for tests.
void SetLogDescriptor(int fd);

// Declares --log-level on a server's flags, setting the threshold when given.
void DeclareLogLevelFlag(FlagSet* flags);

// One event: fields are added in order, the line is written when the LogEvent is destroyed
// (the end of the full expression in `LogEvent(...).Field(...);`). Costs one level check when the
// level is off.
class LogEvent {
 public:
  LogEvent(LogLevel level, std::string_view component, std::string_view msg);
  LogEvent(const LogEvent&) = delete;
  LogEvent& operator=(const LogEvent&) = delete;
  ~LogEvent();

  LogEvent& Field(std::string_view key, std::string_view value);
  LogEvent& Field(std::string_view key, const char* value) {
    return Field(key, std::string_view(value));
  }
  LogEvent& Field(std::string_view key, const std::string& value) {
    return Field(key, std::string_view(value));
  }
  LogEvent& Field(std::string_view key, int64_t value);
  LogEvent& Field(std::string_view key, uint64_t value);
  LogEvent& Field(std::string_view key, int value) { return Field(key, int64_t{value}); }
  LogEvent& Field(std::string_view key, unsigned value) { return Field(key, uint64_t{value}); }
  LogEvent& Field(std::string_view key, double value);
  // error="<status>" for a failed Status.
  LogEvent& Error(const Status& status) { return Field("error", status.ToString()); }

 private:
  bool enabled_;
  std::string line_;
};

// The line of one event, without the newline: pure, for the tests. `unix_ms` is the event's time
// in milliseconds since the epoch; `fields` alternate key, value.
std::string FormatLogLine(int64_t unix_ms, LogLevel level, std::string_view component,
                          std::string_view msg, const std::vector<std::string>& fields);
// Appends ` key=value` (value quoted when it has to be) to `out`.
void AppendLogField(std::string_view key, std::string_view value, std::string* out);

}  // namespace meshq
