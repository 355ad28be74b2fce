// The registry no one can poison, against a real etcd started by tools/etcd.sh --tls (TLS,
// --client-cert-auth, auth on, the agents' user limited to the service prefix): an agent with the
// registry certificate and its user registers and is discovered; a client without a certificate,
// with a foreign CA's, or without the user cannot write an endpoint; the agents' user cannot
// write outside the service prefix.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "etcd_process.h"
#include "registry.h"
#include "test_pki.h"

namespace meshq::agent {
namespace {

using namespace std::chrono_literals;

constexpr char kPrefix[] = "/meshq/services/";

// One PKI and one etcd for the suite (each takes seconds to make); every test writes keys of its
// own.
class RegistryTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new meshq::testing::TestPki();
    etcd_ = new testing::SecureEtcdProcess();
    if (pki_->error().empty()) etcd_->Start(pki_->dir(), &etcd_error_);
  }
  static void TearDownTestSuite() {
    delete etcd_;  // stops etcd before the PKI directory goes
    delete pki_;
  }
  void SetUp() override {
    ASSERT_EQ(pki_->error(), "");
    ASSERT_EQ(etcd_error_, "");
    ASSERT_FALSE(etcd_->endpoint().empty());
  }

  // What a provider-agent started with the registry flags has.
  static RegistryAccess AgentAccess() {
    RegistryAccess a;
    a.tls.ca_file = pki_->cert("ca");
    a.tls.cert_file = etcd_->cert();
    a.tls.key_file = etcd_->key();
    a.user = etcd_->user();
    a.password = etcd_->password();
    return a;
  }

  // The agents' access with certificate `name` of the PKI instead of the registry's ("" none).
  static RegistryAccess WithCertificate(const std::string& name) {
    RegistryAccess a = AgentAccess();
    a.tls.cert_file = name.empty() ? "" : pki_->cert(name);
    a.tls.key_file = name.empty() ? "" : pki_->key(name);
    return a;
  }

  static ProviderEndpoint Endpoint(uint16_t port) {
    ProviderEndpoint ep;
    ep.service = "com.example.Hello";
    ep.host = "127.0.0.1";
    ep.port = port;
    ep.weight = 1000000;
    return ep;
  }

  // Whether a Put of an endpoint (port `port`) under the service prefix with `access` succeeds;
  // *why the error.
  bool CanPutEndpoint(const RegistryAccess& access, uint16_t port, std::string* why) {
    EtcdClient client(etcd_->endpoint(), access);
    const ProviderEndpoint ep = Endpoint(port);
    Status s = client.Put(ep.RegistryKey(kPrefix), ep.ToRegistryValue(), 0);
    *why = s.ToString();
    return s.ok();
  }

  // Whether etcd holds the endpoint of `port`, read with the agents' own access.
  bool Stored(uint16_t port) {
    EtcdClient client(etcd_->endpoint(), AgentAccess());
    std::vector<EtcdKeyValue> kvs;
    int64_t revision = 0;
    EXPECT_TRUE(client.RangePrefix(Endpoint(port).RegistryKey(kPrefix), &kvs, &revision).ok());
    return !kvs.empty();
  }

  static meshq::testing::TestPki* pki_;
  static testing::SecureEtcdProcess* etcd_;
  static std::string etcd_error_;
};

meshq::testing::TestPki* RegistryTlsTest::pki_ = nullptr;
testing::SecureEtcdProcess* RegistryTlsTest::etcd_ = nullptr;
std::string RegistryTlsTest::etcd_error_;

TEST_F(RegistryTlsTest, AgentRegistersAndIsDiscovered) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<ProviderEndpoint> latest;
  ServiceWatcher watcher(
      etcd_->endpoint(), kPrefix,
      [&](const std::vector<ProviderEndpoint>& eps) {
        std::lock_guard lock(mu);
        latest = eps;
        cv.notify_all();
      },
      nullptr, AgentAccess());
  watcher.Start();
  const ProviderEndpoint ep = Endpoint(30001);
  ServiceRegistration reg(etcd_->endpoint(), ep.RegistryKey(kPrefix), ep.ToRegistryValue(), 2,
                          nullptr, AgentAccess());
  ASSERT_TRUE(reg.Start().ok());
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return latest.size() == 1; }));
    EXPECT_EQ(latest[0].address(), "127.0.0.1:30001");
  }
  reg.Stop();  // revoking the lease is allowed to the user too: the endpoint goes away
  std::unique_lock lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, 5s, [&] { return latest.empty(); }));
  lock.unlock();
  watcher.Stop();
}

TEST_F(RegistryTlsTest, NoCertificateCannotWrite) {
  std::string why;
  EXPECT_FALSE(CanPutEndpoint(WithCertificate(""), 40001, &why));
  EXPECT_FALSE(Stored(40001));
}

TEST_F(RegistryTlsTest, ForeignCaCertificateCannotWrite) {
  std::string why;
  EXPECT_FALSE(CanPutEndpoint(WithCertificate("foreign"), 40002, &why));
  EXPECT_FALSE(Stored(40002));
}

TEST_F(RegistryTlsTest, CertificateWithoutUserCannotWrite) {
  RegistryAccess a = AgentAccess();
  a.user.clear();
  a.password.clear();
  std::string why;
  EXPECT_FALSE(CanPutEndpoint(a, 40003, &why));
  a = AgentAccess();
  a.password = "not-the-password";
  EXPECT_FALSE(CanPutEndpoint(a, 40003, &why));
  EXPECT_NE(why.find("authenticate"), std::string::npos) << why;
  EXPECT_FALSE(Stored(40003));
}

TEST_F(RegistryTlsTest, AgentUserCannotWriteOutsideThePrefix) {
  EtcdClient client(etcd_->endpoint(), AgentAccess());
  Status s = client.Put("/other/key", "x", 0);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("permission denied"), std::string::npos) << s.ToString();
  s = client.Put("/meshq/servicesX", "x", 0);  // a sibling of the prefix, not under it
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(client.Put(std::string(kPrefix) + "x/127.0.0.1:1", "{}", 0).ok());
}

// A client certificate with a CN (the mesh's identities have one) is refused by etcd's HTTP
// gateway once auth is on: the reason the registry has a certificate of its own.
TEST_F(RegistryTlsTest, GatewayRefusesCertificateWithCommonName) {
  std::string why;
  EXPECT_FALSE(CanPutEndpoint(WithCertificate("alice"), 40004, &why));
  EXPECT_NE(why.find("CommonName"), std::string::npos) << why;
}

TEST_F(RegistryTlsTest, AccessIsCheckedBeforeUse) {
  RegistryAccess a = AgentAccess();
  EXPECT_TRUE(CheckRegistryAccess(etcd_->endpoint(), a).ok());
  // TLS options for a plaintext URL, a missing file, an expired certificate, no password.
  EXPECT_FALSE(CheckRegistryAccess("http://127.0.0.1:2379", a).ok());
  a.tls.cert_file = pki_->dir() + "/missing.pem";
  EXPECT_FALSE(CheckRegistryAccess(etcd_->endpoint(), a).ok());
  a = WithCertificate("expired");
  EXPECT_FALSE(CheckRegistryAccess(etcd_->endpoint(), a).ok());
  a = AgentAccess();
  a.password.clear();
  EXPECT_FALSE(CheckRegistryAccess(etcd_->endpoint(), a).ok());
}

}  // namespace
}  // namespace meshq::agent
