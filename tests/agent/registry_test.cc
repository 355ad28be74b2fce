// The etcd registry against a real etcd: registration under a lease, the watch seeing joins and
// leaves (clean deregistration and lease expiry) without polling, and values round-tripping.
#include "registry.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "etcd_process.h"

namespace meshq::agent {
namespace {

using namespace std::chrono_literals;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(etcd_.Start(&error)) << error;
  }

  // Collects watcher snapshots and lets the test wait for a condition on the latest one.
  struct Snapshots {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<ProviderEndpoint> latest;
    int count = 0;
    bool emptied = false;  // an empty snapshot came after a non-empty one

    void Set(const std::vector<ProviderEndpoint>& eps) {
      std::lock_guard lock(mu);
      emptied = emptied || (eps.empty() && !latest.empty());
      latest = eps;
      ++count;
      cv.notify_all();
    }
    template <typename Pred>
    bool WaitFor(std::chrono::milliseconds timeout, Pred pred) {
      std::unique_lock lock(mu);
      return cv.wait_for(lock, timeout, [&] { return count > 0 && pred(latest); });
    }
  };

  static ProviderEndpoint Endpoint(uint16_t port, int weight) {
    ProviderEndpoint ep;
    ep.service = "com.example.Hello";
    ep.host = "127.0.0.1";
    ep.port = port;
    ep.weight = weight;
    return ep;
  }

  testing::EtcdProcess etcd_;
  const std::string prefix_ = "/meshq-test/services/";
};

TEST_F(RegistryTest, EndpointValueRoundTrips) {
  ProviderEndpoint ep = Endpoint(30001, 3);
  ProviderEndpoint back;
  ASSERT_TRUE(ProviderEndpoint::FromRegistryValue("k", ep.ToRegistryValue(), &back));
  EXPECT_EQ(back.service, ep.service);
  EXPECT_EQ(back.address(), "127.0.0.1:30001");
  EXPECT_EQ(back.weight, 3);
  EXPECT_FALSE(ProviderEndpoint::FromRegistryValue("k", "not json", &back));
  EXPECT_FALSE(
      ProviderEndpoint::FromRegistryValue("k", R"({"service":"s","address":"nope"})", &back));
  EXPECT_EQ(ep.RegistryKey(prefix_), "/meshq-test/services/com.example.Hello/127.0.0.1:30001");
}

TEST_F(RegistryTest, PutRangeAndLeaseBasics) {
  EtcdClient client(etcd_.endpoint());
  int64_t lease = 0;
  ASSERT_TRUE(client.GrantLease(5, &lease).ok());
  EXPECT_NE(lease, 0);
  ASSERT_TRUE(client.Put(prefix_ + "a", "value-\xc3\xa9", lease).ok());
  ASSERT_TRUE(client.Put("/other/b", "x", 0).ok());
  std::vector<EtcdKeyValue> kvs;
  int64_t revision = 0;
  ASSERT_TRUE(client.RangePrefix(prefix_, &kvs, &revision).ok());
  ASSERT_EQ(kvs.size(), 1u);
  EXPECT_EQ(kvs[0].key, prefix_ + "a");
  EXPECT_EQ(kvs[0].value, "value-\xc3\xa9");
  EXPECT_GT(revision, 0);
  int64_t ttl = 0;
  ASSERT_TRUE(client.KeepAliveOnce(lease, &ttl).ok());
  EXPECT_GT(ttl, 0);
  ASSERT_TRUE(client.RevokeLease(lease).ok());
  ASSERT_TRUE(client.RangePrefix(prefix_, &kvs, &revision).ok());
  EXPECT_TRUE(kvs.empty());
  ASSERT_TRUE(client.KeepAliveOnce(lease, &ttl).ok());
  EXPECT_EQ(ttl, 0) << "a revoked lease is reported as expired";
}

TEST_F(RegistryTest, WatcherSeesJoinAndCleanLeave) {
  Snapshots snaps;
  ServiceWatcher watcher(etcd_.endpoint(), prefix_,
                         [&](const std::vector<ProviderEndpoint>& eps) { snaps.Set(eps); });
  ProviderEndpoint first = Endpoint(30001, 1);
  ServiceRegistration reg1(etcd_.endpoint(), first.RegistryKey(prefix_), first.ToRegistryValue(),
                           5);
  ASSERT_TRUE(reg1.Start().ok());
  watcher.Start();  // starts after one registration: the initial snapshot must include it
  ASSERT_TRUE(snaps.WaitFor(5s, [](const auto& eps) { return eps.size() == 1; }));

  ProviderEndpoint second = Endpoint(30002, 3);
  ServiceRegistration reg2(etcd_.endpoint(), second.RegistryKey(prefix_), second.ToRegistryValue(),
                           5);
  ASSERT_TRUE(reg2.Start().ok());
  ASSERT_TRUE(snaps.WaitFor(2s, [](const auto& eps) { return eps.size() == 2; }));
  {
    std::lock_guard lock(snaps.mu);
    EXPECT_EQ(snaps.latest[1].port, 30002);
    EXPECT_EQ(snaps.latest[1].weight, 3);
  }

  const auto before = std::chrono::steady_clock::now();
  reg1.Stop();  // deregisters: the watch sees the delete at once, well under a second
  ASSERT_TRUE(
      snaps.WaitFor(2s, [](const auto& eps) { return eps.size() == 1 && eps[0].port == 30002; }));
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
  watcher.Stop();
}

TEST_F(RegistryTest, LeaseKeepsKeyAliveAndExpiresWithoutKeepAlive) {
  Snapshots snaps;
  ServiceWatcher watcher(etcd_.endpoint(), prefix_,
                         [&](const std::vector<ProviderEndpoint>& eps) { snaps.Set(eps); });
  watcher.Start();
  ProviderEndpoint ep = Endpoint(30003, 2);
  {
    ServiceRegistration reg(etcd_.endpoint(), ep.RegistryKey(prefix_), ep.ToRegistryValue(), 2);
    ASSERT_TRUE(reg.Start().ok());
    ASSERT_TRUE(snaps.WaitFor(2s, [](const auto& eps) { return eps.size() == 1; }));
    std::this_thread::sleep_for(3500ms);  // longer than the TTL: only keep-alives explain it
    std::lock_guard lock(snaps.mu);
    EXPECT_EQ(snaps.latest.size(), 1u);
  }
  // A provider that dies without deregistering: a bare lease with no keep-alive expires.
  EtcdClient client(etcd_.endpoint());
  int64_t lease = 0;
  ASSERT_TRUE(client.GrantLease(1, &lease).ok());
  ASSERT_TRUE(client.Put(ep.RegistryKey(prefix_), ep.ToRegistryValue(), lease).ok());
  ASSERT_TRUE(snaps.WaitFor(2s, [](const auto& eps) { return eps.size() == 1; }));
  ASSERT_TRUE(snaps.WaitFor(6s, [](const auto& eps) { return eps.empty(); }));
  watcher.Stop();
}

TEST_F(RegistryTest, WatcherRecoversWhenStartedBeforeAnyKeyAndStopsPromptly) {
  Snapshots snaps;
  ServiceWatcher watcher(etcd_.endpoint(), prefix_,
                         [&](const std::vector<ProviderEndpoint>& eps) { snaps.Set(eps); });
  watcher.Start();
  ASSERT_TRUE(snaps.WaitFor(2s, [](const auto& eps) { return eps.empty(); }));
  EtcdClient client(etcd_.endpoint());
  ASSERT_TRUE(client.Put(prefix_ + "bad", "garbage", 0).ok());  // ignored, not fatal
  ProviderEndpoint ep = Endpoint(30004, 1);
  ASSERT_TRUE(client.Put(ep.RegistryKey(prefix_), ep.ToRegistryValue(), 0).ok());
  ASSERT_TRUE(snaps.WaitFor(2s, [](const auto& eps) { return eps.size() == 1; }));
  const auto before = std::chrono::steady_clock::now();
  watcher.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
}

TEST(EtcdClientTest, HungServerFailsTheCallInBoundedTime) {
  // A listener that never answers (connections complete in the kernel backlog, no reply ever).
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  EtcdClient client("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)));
  const auto start = std::chrono::steady_clock::now();
  int64_t lease = 0;
  Status s = client.GrantLease(5, &lease);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("lease grant"), std::string::npos) << s.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  close(fd);
}

TEST_F(RegistryTest, WatchAndRegistrationSurviveAnEtcdRestart) {
  Snapshots snaps;
  ServiceWatcher watcher(etcd_.endpoint(), prefix_,
                         [&](const std::vector<ProviderEndpoint>& eps) { snaps.Set(eps); });
  watcher.Start();
  ProviderEndpoint ep = Endpoint(30005, 1);
  ServiceRegistration reg(etcd_.endpoint(), ep.RegistryKey(prefix_), ep.ToRegistryValue(), 2);
  ASSERT_TRUE(reg.Start().ok());
  ASSERT_TRUE(snaps.WaitFor(2s, [](const auto& eps) { return eps.size() == 1; }));
  std::string error;
  ASSERT_TRUE(etcd_.Restart(&error)) << error;
  // The consumer's view is kept through the outage (no snapshot without the endpoint) and the
  // watch resumes; a new endpoint registered after the restart is seen.
  ProviderEndpoint later = Endpoint(30006, 1);
  ServiceRegistration reg2(etcd_.endpoint(), later.RegistryKey(prefix_), later.ToRegistryValue(),
                           2);
  ASSERT_TRUE(reg2.Start().ok());
  ASSERT_TRUE(snaps.WaitFor(5s, [](const auto& eps) { return eps.size() == 2; }));
  // Keep-alives continue after the restart: both stay registered past several TTLs.
  std::this_thread::sleep_for(4500ms);
  std::vector<EtcdKeyValue> kvs;
  int64_t revision = 0;
  ASSERT_TRUE(EtcdClient(etcd_.endpoint()).RangePrefix(prefix_, &kvs, &revision).ok());
  EXPECT_EQ(kvs.size(), 2u);
  {
    std::lock_guard lock(snaps.mu);
    EXPECT_EQ(snaps.latest.size(), 2u);
    EXPECT_FALSE(snaps.emptied) << "the outage must not empty the consumer's view";
  }
  watcher.Stop();
}

}  // namespace
}  // namespace meshq::agent
