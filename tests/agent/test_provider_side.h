// Test helpers of the direct-mode tests: an in-process Invoker standing in for the Dubbo
// provider (it can hold, delay or answer calls) and a provider-agent's listener on its own thread.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <vector>

#include "io_threads.h"
#include "meshq/agent/agent_listener.h"
#include "meshq/agent/call.h"
#include "meshq/agent/provider_endpoint.h"

namespace meshq::agent::testing {

namespace asio = boost::asio;

// Answers "<tag>:<parameter>" after `delay`, or holds every call when `hold` is set.
class TestProvider : public Invoker {
 public:
  TestProvider(asio::io_context& io, std::string tag) : io_(io), tag_(std::move(tag)) {}

  void Invoke(CallRequest request, CallCallback done) override {
    ++received;
    if (hold.load()) {
      held.push_back(std::move(done));
      return;
    }
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(delay_ms));
    timer->async_wait([this, timer, p = std::move(request.parameter),
                       done = std::move(done)](const boost::system::error_code&) {
      done(CallResult::Ok(tag_ + ":" + p));
    });
  }

  std::atomic<int> received{0};
  std::atomic<int> delay_ms{0};
  std::atomic<bool> hold{false};
  std::vector<CallCallback> held;

 private:
  asio::io_context& io_;
  std::string tag_;
};

// A provider-agent's direct-mode side on its own I/O thread.
struct ProviderSide {
  explicit ProviderSide(std::string tag, AgentListener::Options options = {})
      : threads(1), provider(threads.io(0), std::move(tag)) {
    listener = std::make_unique<AgentListener>(
        threads.io(0), std::make_shared<std::string>("127.0.0.1:0"), options);
    EXPECT_TRUE(listener->Start(&provider).ok());
    threads.Start();
  }
  // Destroying it stops the loop and closes every socket, like a killed process.
  ~ProviderSide() {
    threads.Stop();
    provider.held.clear();
    listener.reset();
  }
  ProviderEndpoint Endpoint(int weight) const {
    ProviderEndpoint ep;
    ep.service = "svc";
    SplitHostPort(listener->address(), &ep.host, &ep.port);
    ep.key = "/t/svc/" + listener->address();
    ep.weight = weight;
    return ep;
  }

  IoThreads threads;
  TestProvider provider;
  std::unique_ptr<AgentListener> listener;
};

}  // namespace meshq::agent::testing
