// Log: formatting an event as one logfmt line, and writing it with one write(2).
#include "meshq/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "meshq/flags.h"

namespace meshq {

namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_fd{2};

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
  }
  return false;
}

void AppendQuoted(std::string_view v, std::string* out) {
  out->push_back('"');
  for (unsigned char c : v) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (c < ' ' || c == 0x7f) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\x%02x", c);
          *out += hex;
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

int64_t NowUnixMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

bool ParseLogLevel(std::string_view text, LogLevel* level) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (text == LogLevelName(l)) {
      *level = l;
      return true;
    }
  }
  return false;
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void SetLogDescriptor(int fd) { g_fd.store(fd); }

void DeclareLogLevelFlag(FlagSet* flags) {
  flags->Custom(
      "log-level", "debug|info|warn|error", "info",
      [](std::string_view v) {
        LogLevel level;
        if (!ParseLogLevel(v, &level)) {
          return Status::InvalidArgument("not debug, info, warn or error");
        }
        SetLogLevel(level);
        return Status::OK();
      },
      "the least severe event written to stderr (one logfmt line each)");
}

void AppendLogField(std::string_view key, std::string_view value, std::string* out) {
  out->push_back(' ');
  out->append(key);
  out->push_back('=');
  if (NeedsQuotes(value)) {
    AppendQuoted(value, out);
  } else {
    out->append(value);
  }
}

std::string FormatLogLine(int64_t unix_ms, LogLevel level, std::string_view component,
                          std::string_view msg, const std::vector<std::string>& fields) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char ts[96];
  std::snprintf(ts, sizeof ts, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(unix_ms % 1000));
  std::string line = ts;
  AppendLogField("level", LogLevelName(level), &line);
  AppendLogField("component", component, &line);
  AppendLogField("msg", msg, &line);
  for (size_t i = 0; i + 1 < fields.size(); i += 2) AppendLogField(fields[i], fields[i + 1], &line);
  return line;
}

LogEvent::LogEvent(LogLevel level, std::string_view component, std::string_view msg)
    : enabled_(LogEnabled(level)) {
  if (enabled_) line_ = FormatLogLine(NowUnixMs(), level, component, msg, {});
}

LogEvent::~LogEvent() {
  if (!enabled_) return;
  line_.push_back('\n');
  const int fd = g_fd.load();
  // One write for the whole line: concurrent lines stay whole (a pipe guarantees it up to
  // PIPE_BUF, a file opened O_APPEND or a terminal in practice). A short write is finished so
  // nothing is lost, at the price of that one line's atomicity.
  const char* p = line_.data();
  size_t left = line_.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

LogEvent& LogEvent::Field(std::string_view key, std::string_view value) {
  if (enabled_) AppendLogField(key, value, &line_);
  return *this;
}

LogEvent& LogEvent::Field(std::string_view key, int64_t value) {
  if (enabled_) AppendLogField(key, std::to_string(value), &line_);
  return *this;
}

LogEvent& LogEvent::Field(std::string_view key, uint64_t value) {
  if (enabled_) AppendLogField(key, std::to_string(value), &line_);
  return *this;
}

LogEvent& LogEvent::Field(std::string_view key, double value) {
  if (!enabled_) return *this;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", value);
  AppendLogField(key, buf, &line_);
  return *this;
}

}  // namespace meshq
