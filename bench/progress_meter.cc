// ProgressMeter: a small thread that wakes each second and prints.
#include "progress_meter.h"

#include <unistd.h>

#include <cstdio>

namespace meshq::bench {

std::string HumanCount(double n) {
  char buf[32];
  if (n >= 1e9) {
    std::snprintf(buf, sizeof(buf), "%.2fG", n / 1e9);
  } else if (n >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.2fM", n / 1e6);
  } else if (n >= 1e4) {
    std::snprintf(buf, sizeof(buf), "%.1fk", n / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f", n);
  }
  return buf;
}

std::string ProgressMeter::Format(const std::string& label, const std::string& unit, uint64_t done,
                                  uint64_t total, double seconds) {
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  const double pct = total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100;
  char eta[32] = "ETA -";
  if (rate > 0 && done < total) {
    std::snprintf(eta, sizeof(eta), "ETA %.0fs", static_cast<double>(total - done) / rate);
  } else if (done >= total) {
    std::snprintf(eta, sizeof(eta), "%.1fs", seconds);
  }
  char line[160];
  std::snprintf(line, sizeof(line), "%-8s %s/%s %s  %3.0f%%  %s %s/s  %s", label.c_str(),
                HumanCount(static_cast<double>(done)).c_str(),
                HumanCount(static_cast<double>(total)).c_str(), unit.c_str(), pct,
                HumanCount(rate).c_str(), unit.c_str(), eta);
  return line;
}

ProgressMeter::ProgressMeter(std::string label, std::string unit, uint64_t total,
                             const std::atomic<uint64_t>* done, bool enabled)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      done_(done),
      start_(std::chrono::steady_clock::now()),
      tty_(::isatty(STDERR_FILENO) == 1),
      stop_(!enabled) {
  if (enabled) thread_ = std::thread([this] { Run(); });
}

ProgressMeter::~ProgressMeter() { Stop(); }

void ProgressMeter::Run() {
  const auto period = std::chrono::seconds(tty_ ? 1 : 5);
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, period, [this] { return stop_; })) {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const std::string line =
        Format(label_, unit_, done_->load(std::memory_order_relaxed), total_, s);
    std::fprintf(stderr, tty_ ? "\r%s\033[K" : "%s\n", line.c_str());
  }
}

void ProgressMeter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::string line = Format(label_, unit_, done_->load(), total_, s);
  std::fprintf(stderr, tty_ ? "\r%s\033[K\n" : "%s\n", line.c_str());
}

}  // namespace meshq::bench
