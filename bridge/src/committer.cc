// Committer: group commit of Flush requests and periodic offset persistence.
#include "committer.h"

#include <pthread.h>

#include <cmath>

namespace meshq::bridge {

Committer::Committer(Round round, std::chrono::milliseconds interval,
                     std::chrono::microseconds linger, Histogram* round_requests,
                     Histogram* round_seconds, std::chrono::microseconds pace)
    : round_(std::move(round)),
      interval_(interval),
      linger_(linger),
      pace_(pace),
      round_requests_(round_requests),
      round_seconds_(round_seconds) {
  thread_ = std::thread([this] { Run(); });
}

Committer::~Committer() { Stop(); }

void Committer::RequestFlush(Done done, FlushMode mode, bool offsets) {
  {
    std::lock_guard lock(mu_);
    if (!stop_) {
      waiting_.push_back(std::move(done));
      offsets_wanted_ = offsets_wanted_ || offsets;
      sync_wanted_ = sync_wanted_ || mode == FlushMode::kSync;
      cv_.notify_one();
      return;
    }
  }
  done(Status::Closed("broker shutting down"));
}

void Committer::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void Committer::Run() {
  pthread_setname_np(pthread_self(), "meshq-commit");  // for top -H, perf and /proc
  using Clock = std::chrono::steady_clock;
  auto last_offsets = Clock::now();
  // The earliest start of the next round that answers requests (after a busy round; min when
  // the next may start at once). Not a std::optional: GCC 12 under -fsanitize=thread -O1 warns
  // it may be read uninitialized.
  Clock::time_point not_before = Clock::time_point::min();
  // Requests answered by rounds of two or more over about the last kLoadWindow paces (decayed
  // with the time between rounds): under a load, arrivals bunch with the rounds (a round's
  // answers set off the next requests), so a busy committer also runs small rounds now and
  // then, which must not run unpaced; a lone producer's rounds of one never count.
  double recent_requests = 0;
  Clock::time_point last_start = Clock::now();
  for (;;) {
    std::vector<Done> batch;
    bool stopping;
    bool offsets;
    bool sync;
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, last_offsets + interval_, [this] { return stop_ || !waiting_.empty(); });
      if (not_before != Clock::time_point::min() && !stop_ && !waiting_.empty()) {
        const auto now = Clock::now();
        if (now < not_before) {
          // Asleep without the lock, as for the linger; Stop waits at most one pace.
          lock.unlock();
          std::this_thread::sleep_for(not_before - now);
          lock.lock();
          ++paced_rounds_;
        }
      }
      if (linger_.count() > 0 && !stop_ && !waiting_.empty()) {
        // Asleep without the lock: RequestFlush's notify finds no waiter and costs no wake-up.
        lock.unlock();
        std::this_thread::sleep_for(linger_);
        lock.lock();
      }
      batch.swap(waiting_);
      stopping = stop_;
      offsets = offsets_wanted_ || stopping || Clock::now() - last_offsets >= interval_;
      offsets_wanted_ = false;
      sync = sync_wanted_;
      sync_wanted_ = false;
    }
    std::optional<FlushMode> flush;
    if (!batch.empty()) flush = sync ? FlushMode::kSync : FlushMode::kWrite;
    const Clock::time_point start = Clock::now();
    Status s = round_(flush, offsets);
    if (offsets) last_offsets = Clock::now();
    if (!batch.empty() && pace_.count() > 0) {
      // Looked at before the answers go out: a producer waiting for its acknowledgement cannot
      // have sent its next request yet, so a lone producer's rounds of one are never busy.
      bool waiting;
      {
        std::lock_guard lock(mu_);
        waiting = !waiting_.empty();
      }
      const double since = std::chrono::duration<double>(start - last_start).count();
      last_start = start;
      recent_requests *=
          std::exp(-since / std::chrono::duration<double>(pace_ * kLoadWindow).count());
      if (batch.size() >= 2 || waiting) recent_requests += static_cast<double>(batch.size());
      if (waiting || batch.size() >= kBusyRound || recent_requests >= kBusyRound * kLoadWindow) {
        not_before = start + pace_;
      } else {
        not_before = Clock::time_point::min();
      }
    }
    if (!batch.empty()) {
      ++flushes_;
      if (round_requests_ != nullptr) round_requests_->Observe(batch.size());
      if (round_seconds_ != nullptr) round_seconds_->ObserveSince(start);
    }
    for (Done& done : batch) done(s);
    if (stopping) {
      std::lock_guard lock(mu_);
      if (waiting_.empty()) return;
    }
  }
}

}  // namespace meshq::bridge
