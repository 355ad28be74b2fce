// Every meshq program's command line, started for real: --help prints the usage to stdout and
// exits 0; an unknown flag, a bad value and (servers) a bad --log-level each print one line
// "<program>: <message>; see --help" to stderr, nothing to stdout, and exit 2.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

struct ProgramRun {
  int code = -1;  // exit status; -1 when killed for taking too long
  std::string out, err;
};

// Runs argv to completion (killed after 10 s), with stdout and stderr captured apart.
ProgramRun RunProgram(const std::vector<std::string>& argv) {
  ProgramRun run;
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return run;
  if (pipe2(err, O_CLOEXEC) != 0) return run;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  close(err[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&run.out, &run.err};
  int open_fds = rc == 0 ? 2 : 0;
  while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
    if (poll(fds, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  close(out[0]);
  close(err[0]);
  if (rc != 0) return run;
  int status = 0;
  if (open_fds > 0) kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  if (open_fds == 0 && WIFEXITED(status)) run.code = WEXITSTATUS(status);
  return run;
}

struct Program {
  const char* path;
  std::string name;                    // as it names itself in messages
  std::vector<std::string> prefix;     // a subcommand, a required flag
  std::vector<std::string> bad_value;  // a flag with a value of the wrong type or range
  std::string bad_value_message;       // what the program says about it
  bool server = false;                 // has --log-level
};

std::vector<Program> Programs() {
  std::vector<Program> all;
#ifdef MESHQ_BIN_MESHQ_BROKER
  all.push_back({MESHQ_BIN_MESHQ_BROKER,
                 "meshq-broker",
                 {},
                 {"--port", "abc"},
                 "bad --port 'abc': not a whole number",
                 true});
  all.push_back({MESHQ_BIN_MESHQ_BROKER,
                 "meshq-broker",
                 {},
                 {"--threads", "65"},
                 "bad --threads '65': out of range 1..64",
                 true});
#endif
#ifdef MESHQ_BIN_MESHQ_AGENT
  all.push_back({MESHQ_BIN_MESHQ_AGENT,
                 "meshq-agent",
                 {"--role", "consumer"},
                 {"--threads", "0"},
                 "bad --threads '0': out of range 1..64",
                 true});
  all.push_back({MESHQ_BIN_MESHQ_AGENT,
                 "meshq-agent",
                 {},
                 {"--role", "both"},
                 "bad --role 'both': not consumer or provider",
                 true});
#endif
#ifdef MESHQ_BIN_MESHQ_PROVIDER_SIM
  all.push_back({MESHQ_BIN_MESHQ_PROVIDER_SIM,
                 "meshq-provider-sim",
                 {},
                 {"--port", "70000"},
                 "bad --port '70000': out of range 0..65535",
                 true});
#endif
#ifdef MESHQ_BIN_MESHQ_BENCH
  all.push_back({MESHQ_BIN_MESHQ_BENCH,
                 "meshq-bench",
                 {},
                 {"--threads", "2x"},
                 "bad --threads '2x': not a whole number"});
#endif
#ifdef MESHQ_BIN_MESHQ_RPC_BENCH
  all.push_back({MESHQ_BIN_MESHQ_RPC_BENCH,
                 "meshq-rpc-bench",
                 {},
                 {"--broker", "nowhere"},
                 "bad --broker 'nowhere': not HOST:PORT"});
#endif
#ifdef MESHQ_BIN_MESHQ_NATS_CORE_BENCH
  all.push_back({MESHQ_BIN_MESHQ_NATS_CORE_BENCH,
                 "meshq-nats-core-bench",
                 {},
                 {"--clients", "0"},
                 "bad --clients '0': out of range 1..1000"});
#endif
#ifdef MESHQ_BIN_MESHQ
  all.push_back({MESHQ_BIN_MESHQ,
                 "meshq dump",
                 {"dump"},
                 {"--from", "-1"},
                 "bad --from '-1': not a whole number"});
  all.push_back({MESHQ_BIN_MESHQ,
                 "meshq inspect",
                 {"inspect"},
                 {"--queues=maybe"},
                 "bad --queues 'maybe': not true, false, 1 or 0"});
#endif
#ifdef MESHQ_BIN_MESHQ_AUDIT
  all.push_back({MESHQ_BIN_MESHQ_AUDIT,
                 "meshq audit",
                 {},
                 {"--limit", "ten"},
                 "bad --limit 'ten': not a whole number"});
#endif
#ifdef MESHQ_BIN_MESHQ_INDEX_MEMORY
  all.push_back({MESHQ_BIN_MESHQ_INDEX_MEMORY,
                 "meshq-index-memory",
                 {},
                 {"--threads", "0"},
                 "bad --threads '0': out of range 1..1024"});
#endif
#ifdef MESHQ_BIN_LOOPBACK_RTT
  all.push_back({MESHQ_BIN_LOOPBACK_RTT,
                 "loopback_rtt",
                 {},
                 {"--connections", "0"},
                 "bad --connections '0': out of range 1..1024"});
#endif
#ifdef MESHQ_BIN_RELIABILITY_CRASH_TORTURE
  all.push_back({MESHQ_BIN_RELIABILITY_CRASH_TORTURE,
                 "reliability_crash_torture",
                 {},
                 {"--queues", "401"},
                 "bad --queues '401': out of range 1..400"});
#endif
  return all;
}

std::vector<std::string> Args(const Program& p, std::vector<std::string> rest) {
  std::vector<std::string> argv = {p.path};
  argv.insert(argv.end(), p.prefix.begin(), p.prefix.end());
  argv.insert(argv.end(), rest.begin(), rest.end());
  return argv;
}

// The one error style, with the message starting as expected.
void ExpectUsageError(const Program& p, const ProgramRun& run, const std::string& message) {
  EXPECT_EQ(run.code, 2) << p.name << "\n" << run.err;
  EXPECT_EQ(run.out, "") << p.name;
  const std::string head = p.name + ": " + message;
  EXPECT_EQ(run.err.rfind(head, 0), 0u) << "expected '" << head << "...' from:\n" << run.err;
  const std::string tail = "; see --help\n";
  ASSERT_GE(run.err.size(), tail.size()) << run.err;
  EXPECT_EQ(run.err.substr(run.err.size() - tail.size()), tail) << run.err;
  EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << "one line:\n" << run.err;
}

TEST(ProgramFlags, EveryProgramIsCovered) {
  // A build with every module has every program; a partial build skips what it lacks.
#if defined(MESHQ_BIN_MESHQ_BROKER) && defined(MESHQ_BIN_MESHQ_AGENT) && \
    defined(MESHQ_BIN_MESHQ_BENCH) && defined(MESHQ_BIN_MESHQ)
  EXPECT_GE(Programs().size(), 10u);
#else
  GTEST_SKIP() << "a partial build";
#endif
}

TEST(ProgramFlags, HelpPrintsTheUsageAndExitsZero) {
  for (const Program& p : Programs()) {
    ProgramRun run = RunProgram(Args(p, {"--help"}));
    EXPECT_EQ(run.code, 0) << p.name << "\n" << run.err;
    EXPECT_EQ(run.out.rfind("usage: " + p.name + " ", 0), 0u) << run.out;
    EXPECT_NE(run.out.find("  --help"), std::string::npos) << run.out;
    EXPECT_EQ(run.err, "") << p.name;
    if (p.server) {
      EXPECT_NE(run.out.find("--log-level debug|info|warn|error"), std::string::npos) << run.out;
    }
  }
}

TEST(ProgramFlags, AnUnknownFlagIsRefused) {
  for (const Program& p : Programs()) {
    ExpectUsageError(p, RunProgram(Args(p, {"--bogus", "1"})), "unknown flag --bogus");
    ExpectUsageError(p, RunProgram(Args(p, {"-q"})), "unknown flag -q");
  }
}

TEST(ProgramFlags, ABadValueIsRefusedNamingTheFlag) {
  for (const Program& p : Programs()) {
    ExpectUsageError(p, RunProgram(Args(p, p.bad_value)), p.bad_value_message);
    // A value flag at the end, without its value.
    std::vector<std::string> missing = {p.bad_value[0].substr(0, p.bad_value[0].find('='))};
    if (p.bad_value.size() == 2) {
      ExpectUsageError(p, RunProgram(Args(p, missing)), "missing value for " + missing[0]);
    }
  }
}

TEST(ProgramFlags, ServersRefuseABadLogLevel) {
  for (const Program& p : Programs()) {
    if (!p.server) continue;
    ExpectUsageError(p, RunProgram(Args(p, {"--log-level", "loud"})),
                     "bad --log-level 'loud': not debug, info, warn or error");
  }
}

}  // namespace
