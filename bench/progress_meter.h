// ProgressMeter: one phase's progress on stderr (done/total, rate, ETA), refreshed in place
// every second on a terminal, a line every 5 s otherwise (logs stay short).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace meshq::bench {

class ProgressMeter {
 public:
  // `done` is advanced by the workers (relaxed); `total` is what the phase will reach. A
  // disabled meter prints nothing.
  // `unit` names what is counted ("msgs", "gets").
  ProgressMeter(std::string label, std::string unit, uint64_t total,
                const std::atomic<uint64_t>* done, bool enabled = true);
  ~ProgressMeter();  // Stop()
  // Prints the final line and stops the refresh thread. Idempotent.
  void Stop();

  // "send     1.20M/10.00M msgs   12%  1.31M msgs/s  ETA 7s": the line; pure.
  static std::string Format(const std::string& label, const std::string& unit, uint64_t done,
                            uint64_t total, double seconds);

 private:
  void Run();

  const std::string label_;
  const std::string unit_;
  const uint64_t total_;
  const std::atomic<uint64_t>* done_;
  const std::chrono::steady_clock::time_point start_;
  const bool tty_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_;
  std::thread thread_;
};

// 1234567 -> "1.23M"; 999 -> "999".
std::string HumanCount(double n);

}  // namespace meshq::bench
