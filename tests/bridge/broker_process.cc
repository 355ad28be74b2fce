// BrokerProcess: fork/exec of meshq-broker with bounded waits.
#include "broker_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

namespace meshq::bridge::testing {
namespace {

// Forks and execs argv with stdout on a pipe; returns the pid and the pipe's read end. A
// non-zero `file_size_limit` caps the size of every file the program writes, a non-zero
// `descriptor_limit` the descriptors it may hold (both kept by exec). stderr goes to the pipe too
// when `stderr_path` is "-", is appended to the file `stderr_path` names otherwise, or stays.
// With `in_fd`, stdin is a pipe too and *in_fd its write end.
pid_t Spawn(const std::vector<std::string>& argv, int* out_fd, uint64_t file_size_limit = 0,
            uint64_t descriptor_limit = 0, const std::string& stderr_path = "",
            int* in_fd = nullptr) {
  int fds[2];
  int in[2] = {-1, -1};
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  if (in_fd && pipe2(in, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    if (in_fd) dup2(in[0], STDIN_FILENO);
    if (stderr_path == "-") {
      dup2(fds[1], STDERR_FILENO);
    } else if (!stderr_path.empty()) {
      const int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (err < 0 || dup2(err, STDERR_FILENO) < 0) _exit(126);
    }
    if (file_size_limit > 0) {
      signal(SIGXFSZ, SIG_IGN);  // the write fails with EFBIG instead of killing the process
      rlimit limit{file_size_limit, file_size_limit};
      if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(126);
    }
    if (descriptor_limit > 0) {
      rlimit limit{descriptor_limit, descriptor_limit};
      if (setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(126);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  *out_fd = fds[0];
  if (in_fd) {
    close(in[0]);
    *in_fd = in[1];
  }
  return pid;
}

// Reads from fd until `until` or EOF; appends to *out. Stops early when `stop_at` appears, or
// when *out holds `want` bytes.
void ReadUntil(int fd, std::string* out, std::chrono::steady_clock::time_point until,
               const char* stop_at, size_t want = SIZE_MAX) {
  char buf[4096];
  while (std::chrono::steady_clock::now() < until && out->size() < want) {
    if (stop_at && out->find(stop_at) != std::string::npos &&
        out->find('\n', out->find(stop_at)) != std::string::npos) {
      return;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::max<int64_t>(1, left.count()))) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return;
    out->append(buf, static_cast<size_t>(n));
  }
}

// waitpid with a deadline; SIGKILLs when it passes.
int WaitBounded(pid_t pid, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

}  // namespace

BrokerProcess::BrokerProcess() {
  char tmpl[] = "/tmp/meshq-bridge-test-XXXXXX";
  const char* d = mkdtemp(tmpl);
  dir_ = d ? d : "";
}

BrokerProcess::~BrokerProcess() {
  if (pid_ > 0) Stop(SIGKILL);
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

bool BrokerProcess::Start(std::vector<std::string> extra_args) {
  std::vector<std::string> argv = {MESHQ_BROKER_PATH, "--dir", dir_ + "/store", "--port",
                                   std::to_string(port_)};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  // Restarting on the same port can race the old socket's teardown: retry briefly.
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = -1;
    pid_ = Spawn(argv, &fd, file_size_limit_, descriptor_limit_, stderr_file_);
    if (pid_ <= 0) break;
    std::string out;
    ReadUntil(fd, &out, std::chrono::steady_clock::now() + std::chrono::seconds(10),
              "listening on ");
    close(fd);
    size_t at = out.find("listening on ");
    if (at != std::string::npos) {
      size_t colon = out.find(':', at);
      port_ = static_cast<uint16_t>(std::atoi(out.c_str() + colon + 1));
      // Printed before "listening on" when the broker serves metrics.
      const size_t metrics = out.find("metrics on ");
      metrics_port_ =
          metrics == std::string::npos
              ? 0
              : static_cast<uint16_t>(std::atoi(out.c_str() + out.find(':', metrics) + 1));
      return true;
    }
    WaitBounded(pid_, std::chrono::seconds(2));
    pid_ = -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "meshq-broker did not start";
  return false;
}

bool BrokerProcess::Restart(std::vector<std::string> extra_args) {
  if (pid_ > 0) Stop(SIGTERM);
  return Start(std::move(extra_args));
}

int BrokerProcess::Stop(int sig) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int status = WaitBounded(pid_, std::chrono::seconds(10));
  pid_ = -1;
  return status;
}

int RunProgram(const std::vector<std::string>& argv, std::string* out,
               std::chrono::milliseconds timeout, bool with_stderr) {
  int fd = -1;
  pid_t pid = Spawn(argv, &fd, 0, 0, with_stderr ? "-" : "");
  if (pid <= 0) return -1;
  auto until = std::chrono::steady_clock::now() + timeout;
  ReadUntil(fd, out, until, nullptr);
  close(fd);
  int status = WaitBounded(pid, std::chrono::duration_cast<std::chrono::milliseconds>(
                                    until - std::chrono::steady_clock::now()) +
                                    std::chrono::milliseconds(100));
  if (status < 0 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

std::string Converse(const std::vector<std::string>& argv, const std::string& input, size_t want,
                     std::chrono::milliseconds timeout) {
  int out_fd = -1, in_fd = -1;
  pid_t pid = Spawn(argv, &out_fd, 0, 0, "", &in_fd);
  if (pid <= 0) return "";
  std::string out;
  if (write(in_fd, input.data(), input.size()) == static_cast<ssize_t>(input.size())) {
    ReadUntil(out_fd, &out, std::chrono::steady_clock::now() + timeout, nullptr, want);
  }
  kill(pid, SIGKILL);
  WaitBounded(pid, std::chrono::seconds(5));
  close(in_fd);
  close(out_fd);
  return out;
}

}  // namespace meshq::bridge::testing
