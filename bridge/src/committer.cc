// Committer: group commit of Flush requests and periodic offset persistence.
#include "committer.h"

namespace meshq::bridge {

Committer::Committer(std::function<Status(bool)> round, std::chrono::milliseconds interval)
    : round_(std::move(round)), interval_(interval) {
  thread_ = std::thread([this] { Run(); });
}

Committer::~Committer() { Stop(); }

void Committer::RequestFlush(Done done) {
  {
    std::lock_guard lock(mu_);
    if (!stop_) {
      waiting_.push_back(std::move(done));
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
  for (;;) {
    std::vector<Done> batch;
    bool stopping;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, interval_, [this] { return stop_ || !waiting_.empty(); });
      batch.swap(waiting_);
      stopping = stop_;
    }
    Status s = round_(!batch.empty());
    if (!batch.empty()) ++flushes_;
    for (Done& done : batch) done(s);
    if (stopping) {
      std::lock_guard lock(mu_);
      if (waiting_.empty()) return;
    }
  }
}

}  // namespace meshq::bridge
