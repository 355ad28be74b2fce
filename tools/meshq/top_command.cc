// meshq top ADDR...: polls each server's /metrics every --interval and redraws the screen in
// place (plain ANSI: cursor home, clear to end of line and of screen), or prints one view and
// exits (--once, for scripts). An endpoint that does not answer is shown DOWN and polled again.
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <ctime>
#include <optional>
#include <thread>

#include "command_args.h"
#include "commands.h"
#include "metrics_fetch.h"
#include "metrics_text.h"
#include "top_view.h"

namespace meshq::cli {

namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop = 0;
void OnStopSignal(int) { g_stop = 1; }

struct Target {
  std::string address;
  std::optional<ScrapedMetrics> previous;
  Clock::time_point previous_at;
};

TopEndpoint Poll(Target* t, std::chrono::milliseconds timeout) {
  TopEndpoint e;
  e.address = t->address;
  std::string body;
  Status s = FetchMetrics(t->address, "/metrics", timeout, &body);
  ScrapedMetrics now;
  if (s.ok()) s = ParseMetricsText(body, &now);
  const auto at = Clock::now();
  if (!s.ok()) {
    e.error = std::string(s.message());
    t->previous.reset();  // rates start afresh once it is back
    return e;
  }
  e.up = true;
  const double seconds = std::chrono::duration<double>(at - t->previous_at).count();
  e.rows = ComputeTopRows(t->previous ? &*t->previous : nullptr, now, seconds);
  t->previous = std::move(now);
  t->previous_at = at;
  return e;
}

std::string Header(double interval, bool once) {
  char when[32];
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &utc);
  char head[128];
  std::snprintf(head, sizeof head, "meshq top  %s  %s %gs%s", when, once ? "over" : "every",
                interval, once ? "" : "  (Ctrl-C quits)");
  return head;
}

size_t TerminalWidth() {
  winsize ws{};
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return ws.ws_col;
  }
  return 0;
}

// Sleeps `d`, waking early for a stop signal.
void SleepFor(std::chrono::duration<double> d) {
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(d);
  while (!g_stop && Clock::now() < until) {
    std::this_thread::sleep_for(
        std::min<Clock::duration>(until - Clock::now(), std::chrono::milliseconds(50)));
  }
}

}  // namespace

int RunTop(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  double interval = 2;
  bool once = false;
  int64_t timeout_ms = 1000;
  std::vector<std::string> addresses;
  FlagSet flags("meshq top",
                "Polls the /metrics of meshq servers (meshq-broker, meshq-agent with\n"
                "--metrics-port) and shows rates, p50/p99 latencies over the last interval and\n"
                "gauges (queue depths, connections), redrawn in place. An endpoint that does not\n"
                "answer is shown DOWN. --once prints one view (two polls an interval apart) and\n"
                "exits 0 when every endpoint answered, 1 otherwise.",
                "HOST:PORT... [flags]");
  flags.Double("interval", &interval, 0.1, 3600, "seconds between polls");
  flags.Bool("once", &once, "print one view without escapes and exit");
  flags.Int<int64_t>("timeout-ms", &timeout_ms, 1, 60'000, "a poll gives up after this");
  flags.Positional(&addresses);
  if (auto exit_code = flags.ParseArguments(args, out, err)) return *exit_code;
  if (addresses.empty()) {
    err << UsageError(flags.program(), "at least one HOST:PORT is required");
    return kExitUsage;
  }
  std::vector<Target> targets;
  for (const std::string& a : addresses) targets.push_back({a, std::nullopt, {}});
  const auto timeout = std::chrono::milliseconds(timeout_ms);

  if (once) {
    for (Target& t : targets) Poll(&t, timeout);
    SleepFor(std::chrono::duration<double>(interval));
    std::vector<TopEndpoint> view;
    bool all_up = true;
    for (Target& t : targets) {
      view.push_back(Poll(&t, timeout));
      all_up = all_up && view.back().up;
    }
    for (const std::string& line : RenderTop(view, Header(interval, true), 0)) out << line << "\n";
    out.flush();
    return all_up ? kExitOk : kExitProblems;
  }

  g_stop = 0;
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  out << "\x1b[2J";
  while (!g_stop) {
    const auto started = Clock::now();
    std::vector<TopEndpoint> view;
    for (Target& t : targets) view.push_back(Poll(&t, timeout));
    // Home, each line cleared to its end, the rest of the screen cleared: no flicker, no scroll.
    std::string frame = "\x1b[H";
    for (const std::string& line : RenderTop(view, Header(interval, false), TerminalWidth())) {
      frame += line + "\x1b[K\n";
    }
    frame += "\x1b[J";
    out << frame << std::flush;
    SleepFor(std::chrono::duration<double>(interval) - (Clock::now() - started));
  }
  out << "\n" << std::flush;
  return kExitOk;
}

}  // namespace meshq::cli
