// LoadBalancer as a specification: weights respected, in-flight and latency adaptation, ejection
// of failing endpoints and their return after the back-off.
#include "load_balancer.h"

#include <gtest/gtest.h>

#include <map>

namespace meshq::agent {
namespace {

using namespace std::chrono_literals;
using Clock = LoadBalancer::Clock;

ProviderEndpoint Ep(uint16_t port, int weight, std::string service = "svc") {
  ProviderEndpoint ep;
  ep.service = std::move(service);
  ep.host = "127.0.0.1";
  ep.port = port;
  ep.weight = weight;
  ep.key = "/p/" + ep.service + "/" + ep.address();
  return ep;
}

// Picks `n` calls without completing any, so only in-flight load and weights decide.
std::map<uint16_t, int> PickHeld(LoadBalancer& lb, int n, Clock::time_point now) {
  std::map<uint16_t, int> by_port;
  for (int i = 0; i < n; ++i) {
    const LoadBalancer::Endpoint* e = lb.Pick("svc", now);
    if (e == nullptr) continue;
    ++by_port[e->info.port];
    lb.OnStart(e->id);
  }
  return by_port;
}

TEST(LoadBalancerTest, HeldCallsSplitInProportionToWeights) {
  LoadBalancer lb;
  lb.SetEndpoints({Ep(1, 100), Ep(2, 200), Ep(3, 300)});
  auto counts = PickHeld(lb, 600, Clock::now());
  EXPECT_NEAR(counts[1], 100, 1);
  EXPECT_NEAR(counts[2], 200, 1);
  EXPECT_NEAR(counts[3], 300, 1);
}

TEST(LoadBalancerTest, CompletedCallsKeepTheSplitUnderSteadyLoad) {
  LoadBalancer lb;
  lb.SetEndpoints({Ep(1, 1), Ep(2, 2), Ep(3, 3)});
  // 60 calls stay in flight; each step completes the oldest and starts a new one.
  std::vector<uint64_t> inflight;
  std::map<uint64_t, int> served;
  const auto now = Clock::now();
  for (int i = 0; i < 6000; ++i) {
    if (inflight.size() == 60) {
      lb.OnSuccess(inflight.front(), 50ms);
      inflight.erase(inflight.begin());
    }
    const LoadBalancer::Endpoint* e = lb.Pick("svc", now);
    ASSERT_NE(e, nullptr);
    lb.OnStart(e->id);
    inflight.push_back(e->id);
    ++served[e->id];
  }
  std::map<uint16_t, int> in_flight_by_port;
  for (const auto& e : lb.endpoints()) in_flight_by_port[e.info.port] = e.inflight;
  EXPECT_NEAR(in_flight_by_port[1], 10, 1);
  EXPECT_NEAR(in_flight_by_port[2], 20, 1);
  EXPECT_NEAR(in_flight_by_port[3], 30, 1);
}

TEST(LoadBalancerTest, BusyEndpointGetsFewerNewCalls) {
  LoadBalancer lb;
  lb.SetEndpoints({Ep(1, 1), Ep(2, 1)});
  const auto now = Clock::now();
  const uint64_t first = lb.endpoints()[0].id;
  for (int i = 0; i < 10; ++i) lb.OnStart(first);  // e.g. a slow batch stuck on endpoint 1
  auto counts = PickHeld(lb, 10, now);
  EXPECT_EQ(counts[2], 10);
  EXPECT_EQ(counts[1], 0);
}

TEST(LoadBalancerTest, ClearlySlowerEndpointIsPenalisedButNoiseIsNot) {
  LoadBalancer lb;
  lb.SetEndpoints({Ep(1, 1), Ep(2, 1), Ep(3, 1)});
  const auto& eps = lb.endpoints();
  for (int i = 0; i < 50; ++i) {
    lb.OnStart(eps[0].id), lb.OnSuccess(eps[0].id, 50ms);
    lb.OnStart(eps[1].id), lb.OnSuccess(eps[1].id, 55ms);   // noise: treated as equal
    lb.OnStart(eps[2].id), lb.OnSuccess(eps[2].id, 400ms);  // 8x slower
  }
  auto counts = PickHeld(lb, 170, Clock::now());
  EXPECT_NEAR(counts[1], counts[2], 1);
  EXPECT_LT(counts[3] * 5, counts[1]);
  EXPECT_GT(counts[3], 0) << "a slow endpoint still serves when the others are loaded";
}

TEST(LoadBalancerTest, FailingEndpointIsEjectedAndRetriedAfterBackoff) {
  LoadBalancer::Options options;
  options.failures_to_eject = 3;
  options.first_ejection = 500ms;
  LoadBalancer lb(options);
  lb.SetEndpoints({Ep(1, 10), Ep(2, 1)});
  const auto t0 = Clock::now();
  const uint64_t big = lb.endpoints()[0].id;
  for (int i = 0; i < 3; ++i) {
    lb.OnStart(big);
    lb.OnFailure(big, t0);
  }
  // Ejected: everything goes to the small endpoint despite its weight.
  auto during = PickHeld(lb, 20, t0 + 100ms);
  EXPECT_EQ(during[1], 0);
  EXPECT_EQ(during[2], 20);
  // After the back-off it is tried again and, being idle and heavier, preferred.
  const LoadBalancer::Endpoint* after = lb.Pick("svc", t0 + 600ms);
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->info.port, 1);
  // Failing again right after doubles the back-off.
  for (int i = 0; i < 3; ++i) lb.OnStart(big), lb.OnFailure(big, t0 + 600ms);
  EXPECT_EQ(lb.Pick("svc", t0 + 1500ms)->info.port, 2);
  EXPECT_EQ(lb.Pick("svc", t0 + 1700ms)->info.port, 1);
  // A success resets the back-off.
  lb.OnStart(big);
  lb.OnSuccess(big, 1ms);
  lb.Eject(big, t0 + 2s);
  EXPECT_EQ(lb.Pick("svc", t0 + 2s + 400ms)->info.port, 2);
  EXPECT_EQ(lb.Pick("svc", t0 + 2s + 600ms)->info.port, 1);
}

TEST(LoadBalancerTest, AllEjectedStillPicksTheOneReturningFirst) {
  LoadBalancer lb;
  lb.SetEndpoints({Ep(1, 1), Ep(2, 1)});
  const auto t0 = Clock::now();
  lb.Eject(lb.endpoints()[1].id, t0);
  lb.Eject(lb.endpoints()[0].id, t0 + 100ms);
  const LoadBalancer::Endpoint* e = lb.Pick("svc", t0 + 200ms);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->info.port, 2);
}

TEST(LoadBalancerTest, ExcludeServiceFilterAndEndpointChurn) {
  LoadBalancer lb;
  lb.SetEndpoints({Ep(1, 1), Ep(2, 5), Ep(9, 100, "other")});
  const auto now = Clock::now();
  const LoadBalancer::Endpoint* first = lb.Pick("svc", now);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->info.port, 2);
  const uint64_t id2 = first->id;
  EXPECT_EQ(lb.Pick("svc", now, {id2})->info.port, 1);
  EXPECT_EQ(lb.Pick("svc", now, {id2, lb.endpoints()[0].id}), nullptr);
  EXPECT_EQ(lb.Pick("nobody", now), nullptr);

  lb.OnStart(id2);
  // Endpoint 1 leaves, 3 joins; 2 keeps its id and its in-flight count.
  lb.SetEndpoints({Ep(2, 5), Ep(3, 1)});
  ASSERT_NE(lb.Find(id2), nullptr);
  EXPECT_EQ(lb.Find(id2)->inflight, 1);
  lb.OnSuccess(12345, 1ms);  // unknown ids are ignored
  lb.OnSuccess(id2, 1ms);
  EXPECT_EQ(lb.Find(id2)->inflight, 0);
}

}  // namespace
}  // namespace meshq::agent
