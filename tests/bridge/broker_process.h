// BrokerProcess: runs the real meshq-broker binary for a test, on an ephemeral loopback port
// (or a given one, to restart on the same address), in a temporary directory that outlives
// restarts. Every wait is bounded; the destructor kills what is still running.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "meshq/bridge/broker_client.h"

namespace meshq::bridge::testing {

class BrokerProcess {
 public:
  // Creates a fresh store directory (removed by the destructor).
  BrokerProcess();
  ~BrokerProcess();

  // Starts the broker (port 0 = ephemeral, or the last port to restart on the same address)
  // and waits for its "listening on" line. False (with a test failure) when it does not come.
  bool Start(std::vector<std::string> extra_args = {});
  bool Restart(std::vector<std::string> extra_args = {});
  // Sends `sig` and waits (bounded) for the exit; returns the exit status from waitpid.
  int Stop(int sig);

  uint16_t port() const { return port_; }
  // The port of /metrics and /healthz when started with --metrics-port (else 0).
  uint16_t metrics_port() const { return metrics_port_; }
  BrokerAddress address() const { return BrokerAddress{"127.0.0.1", port_}; }
  const std::string& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }
  // Limits every file the next Start()s' broker writes to `bytes` (RLIMIT_FSIZE, SIGXFSZ
  // ignored): a write past it fails with EFBIG, as on a full disk. 0 = no limit.
  void set_file_size_limit(uint64_t bytes) { file_size_limit_ = bytes; }
  // Limits the next Start()s' broker to `n` open descriptors (RLIMIT_NOFILE). 0 = inherited.
  void set_descriptor_limit(uint64_t n) { descriptor_limit_ = n; }
  pid_t pid() const { return pid_; }
  // Appends the next Start()s' broker's stderr (its log) to `path` ("" = the test's stderr).
  void set_stderr_file(std::string path) { stderr_file_ = std::move(path); }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  uint16_t metrics_port_ = 0;
  uint64_t file_size_limit_ = 0;
  uint64_t descriptor_limit_ = 0;
  std::string stderr_file_;
};

// Runs `argv` to completion (bounded by `timeout`), capturing stdout (and stderr with it when
// `with_stderr`). Returns the exit code, or -1 when it had to be killed.
int RunProgram(const std::vector<std::string>& argv, std::string* out,
               std::chrono::milliseconds timeout, bool with_stderr = false);

// Runs `argv` with pipes on its stdin and stdout, writes `input`, reads its stdout until `want`
// bytes came, it exits, or `timeout` passed; then kills it and returns what it printed.
std::string Converse(const std::vector<std::string>& argv, const std::string& input, size_t want,
                     std::chrono::milliseconds timeout);

}  // namespace meshq::bridge::testing
