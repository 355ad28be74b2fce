// meshq-broker over TLS (docs/SECURITY.md), the real binary with real certificates made by
// tools/certs.sh: round trips of the broker clients and of RPC calls, clients refused at the
// handshake (plaintext, a foreign CA's, an expired one, none), the client's check of the
// broker's name, the identity the broker sees, a third-party TLS client (openssl s_client), the
// handshake's timeout, and the start-up refusals (exit status 2).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "broker_process.h"
#include "io_thread.h"
#include "loopback_client.h"
#include "meshq/bridge/blocking_broker_client.h"
#include "meshq/bridge/frame.h"
#include "meshq/bridge/rpc_client.h"
#include "meshq/bridge/rpc_server.h"
#include "metrics_sample.h"
#include "test_pki.h"

namespace meshq::bridge {
namespace {

using namespace std::chrono_literals;
using ::meshq::testing::ConnectLoopback;
using ::meshq::testing::HttpBody;
using ::meshq::testing::HttpGet;
using ::meshq::testing::MetricSample;
using ::meshq::testing::ReadUntilClosed;
using testing::BrokerProcess;
using testing::Converse;
using testing::IoThread;
using testing::RunProgram;

constexpr const char* kOpenssl = "/usr/bin/openssl";

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

class TlsBrokerTest : public ::meshq::testing::TestPkiSuite {
 protected:
  // Starts the broker with TLS (mutual when `mutual`), its metrics and a debug log in a file.
  void StartBroker(bool mutual = true, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--tls-cert", pki_.cert("broker"), "--tls-key", pki_.key("broker"), "--metrics-port",
        "0",          "--log-level",       "debug"};
    if (mutual) args.insert(args.end(), {"--tls-client-ca", pki_.cert("ca")});
    args.insert(args.end(), extra.begin(), extra.end());
    broker_.set_stderr_file(log_path());
    ASSERT_TRUE(broker_.Start(args));
  }
  std::string log_path() const { return broker_.dir() + "/broker.log"; }

  // The broker's address for a client trusting ca.pem and presenting certificate `name` (none
  // when empty); `ca` "" = plaintext.
  BrokerAddress Address(const std::string& name, const std::string& ca = "ca",
                        const std::string& server_name = "") {
    BrokerAddress a = broker_.address();
    if (ca.empty()) return a;
    TlsClientOptions o;
    o.ca_file = pki_.cert(ca);
    if (!name.empty()) {
      o.cert_file = pki_.cert(name);
      o.key_file = pki_.key(name);
    }
    o.server_name = server_name;
    Status s = SetBrokerTls(o, &a);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return a;
  }

  std::string Scrape() { return HttpBody(HttpGet(broker_.metrics_port(), "/metrics")); }
  // Waits (bounded) until the handshakes of `result` reach `at_least`; returns their count.
  double WaitForHandshakes(const std::string& result, double at_least) {
    const std::string series = "meshq_broker_tls_handshakes_total{result=\"" + result + "\"}";
    double n = -1;
    for (auto until = std::chrono::steady_clock::now() + 5s;
         std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(20ms)) {
      n = MetricSample(Scrape(), series);
      if (n >= at_least) break;
    }
    return n;
  }

  // A client refused at the handshake: its requests fail, nothing it sent is stored, and the
  // broker counts a failed handshake.
  void ExpectRefused(const BrokerAddress& address) {
    const double before =
        MetricSample(Scrape(), "meshq_broker_tls_handshakes_total{result=\"failed\"}");
    {
      BlockingBrokerClient c(address);
      (void)c.Connect(500ms);  // under TLS 1.3 the client's side may complete before the refusal
      EXPECT_FALSE(c.Put("refused-q", {{0, "should not be stored"}}).ok());
    }
    EXPECT_GT(WaitForHandshakes("failed", before + 1), before);
    BlockingBrokerClient alice(Address("alice"));
    ASSERT_TRUE(alice.Connect(5s).ok());
    std::vector<OwnedMessage> got;
    ASSERT_TRUE(alice.Get("refused-q", 0, 10, &got).ok());
    EXPECT_TRUE(got.empty());
  }

  BrokerProcess broker_;
};

TEST_F(TlsBrokerTest, MutualTlsRoundTrip) {
  StartBroker();
  BlockingBrokerClient c(Address("alice"));
  ASSERT_TRUE(c.Connect(5s).ok());
  ASSERT_TRUE(c.Put("tls-q", {{0, "one"}, {0, "two"}}, kPutFlagWritten).ok());
  std::vector<OwnedMessage> got;
  ASSERT_TRUE(c.Get("tls-q", 0, 10, &got).ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].payload, "two");
  // A frame larger than one TLS record (16 KiB) both ways.
  const std::string big(200'000, 'x');
  ASSERT_TRUE(c.Put("tls-big", {{0, big}}).ok());
  ASSERT_TRUE(c.Get("tls-big", 0, 1, &got).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, big);
  EXPECT_GE(WaitForHandshakes("ok", 1), 1);
}

// Many requests in flight at once (the broker and the client take every TLS record already
// received before answering): each is answered once, in order of its queue.
TEST_F(TlsBrokerTest, PipelinedRequestsAreAllAnswered) {
  StartBroker();
  IoThread io;
  static constexpr int kRequests = 2000;
  auto client = io.Run([&] {
    auto c = BrokerClient::Create(io.io(), Address("alice"));
    c->Start();
    return c;
  });
  for (auto until = std::chrono::steady_clock::now() + 5s;
       !io.Run([&] { return client->connected(); }) && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(10ms);
  }
  std::promise<int> done;
  io.Run([&] {
    auto answered = std::make_shared<int>(0);
    for (int i = 0; i < kRequests; ++i) {
      const std::string payload = std::to_string(i);
      std::vector<PutMessage> m = {{0, payload}};
      auto count = [answered, &done](bool ok) {
        if (ok && ++*answered == kRequests) done.set_value(*answered);
      };
      if (i % 2 == 0) {
        client->Put("pipelined", m, 0, {},
                    [count](const Status& s, const PutAnswer&) { count(s.ok()); });
      } else {
        client->Ping([count](const Status& s) { count(s.ok()); });
      }
    }
    return 0;
  });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
  EXPECT_EQ(f.get(), kRequests);
  io.Run([&] {
    client->Close();
    return 0;
  });
  BlockingBrokerClient c(Address("bob"));
  ASSERT_TRUE(c.Connect(5s).ok());
  std::vector<OwnedMessage> got;
  ASSERT_TRUE(c.Get("pipelined", 0, kRequests, &got).ok());
  ASSERT_EQ(got.size(), static_cast<size_t>(kRequests / 2));
  for (int i = 0; i < kRequests / 2; ++i) EXPECT_EQ(got[i].payload, std::to_string(2 * i));
}

TEST_F(TlsBrokerTest, RpcCallsOverMutualTls) {
  StartBroker();
  IoThread io;
  RpcServerOptions so;
  so.broker = Address("bob");
  so.service = "tls-echo";
  RpcClientOptions co;
  co.broker = Address("alice");
  co.client_id = "tls-caller";
  auto [server, client] = io.Run([&] {
    auto s = RpcServer::Create(io.io(), so, [](const RpcCall& call, RpcServer::Respond respond) {
      respond(ReplyStatus::kOk, "re:" + call.payload);
    });
    s->Start();
    auto c = RpcClient::Create(io.io(), co);
    c->Start();
    return std::pair{s, c};
  });
  std::this_thread::sleep_for(200ms);  // the server joins its group
  for (int i = 0; i < 20; ++i) {
    auto promise = std::make_shared<std::promise<CallResult>>();
    auto f = promise->get_future();
    CallOptions options;
    options.timeout = 5s;
    boost::asio::post(io.io(), [&, promise, i] {
      client->Call("tls-echo", "call " + std::to_string(i), options,
                   [promise](CallResult r) { promise->set_value(std::move(r)); });
    });
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    CallResult r = f.get();
    ASSERT_EQ(r.error, CallError::kNone) << r.payload;
    EXPECT_EQ(r.payload, "re:call " + std::to_string(i));
  }
  io.Run([&] {
    client->Shutdown();
    server->Shutdown();
    return 0;
  });
}

TEST_F(TlsBrokerTest, PlaintextClientIsRefusedAtTheHandshake) {
  StartBroker();
  ExpectRefused(Address("", /*ca=*/""));
}

TEST_F(TlsBrokerTest, ForeignCaClientIsRefusedAtTheHandshake) {
  StartBroker();
  ExpectRefused(Address("foreign"));
}

TEST_F(TlsBrokerTest, ExpiredClientIsRefusedAtTheHandshake) {
  StartBroker();
  // MakeTlsClientContext refuses an expired certificate: this one is loaded as it is.
  BrokerAddress expired = broker_.address();
  expired.tls = ::meshq::testing::ClientPresenting(pki_, "expired");
  ASSERT_NE(expired.tls, nullptr);
  ExpectRefused(expired);
}

TEST_F(TlsBrokerTest, ClientWithoutCertificateIsRefusedUnderMutualTls) {
  StartBroker();
  ExpectRefused(Address(""));
}

TEST_F(TlsBrokerTest, ServerOnlyTlsTakesClientsWithoutCertificates) {
  StartBroker(/*mutual=*/false);
  BlockingBrokerClient c(Address(""));
  ASSERT_TRUE(c.Connect(5s).ok());
  ASSERT_TRUE(c.Put("anon-q", {{0, "m"}}).ok());
  // Anonymous: the broker asked for no certificate.
  for (auto until = std::chrono::steady_clock::now() + 5s;
       std::chrono::steady_clock::now() < until &&
       ReadFile(log_path()).find("msg=\"tls connection\"") == std::string::npos;) {
    std::this_thread::sleep_for(20ms);
  }
  const std::string log = ReadFile(log_path());
  EXPECT_NE(log.find("identity=\"\""), std::string::npos) << log;
}

TEST_F(TlsBrokerTest, ClientChecksTheBrokersName) {
  StartBroker();
  // The broker's certificate names localhost and 127.0.0.1, not this.
  BlockingBrokerClient wrong(Address("alice", "ca", "broker.example.org"));
  Status s = wrong.Connect(1s);
  EXPECT_TRUE(s.IsTimedOut()) << s.ToString();
  EXPECT_NE(s.message().find("tls handshake"), std::string::npos) << s.ToString();
  BlockingBrokerClient named(Address("alice", "ca", "localhost"));
  EXPECT_TRUE(named.Connect(5s).ok());
  // A broker whose certificate another CA signed is refused by the client.
  BlockingBrokerClient foreign_trust(Address("alice", "foreign-ca"));
  EXPECT_FALSE(foreign_trust.Connect(1s).ok());
}

TEST_F(TlsBrokerTest, BrokerSeesTheClientsIdentity) {
  StartBroker();
  BlockingBrokerClient alice(Address("alice"));
  ASSERT_TRUE(alice.Connect(5s).ok());
  BlockingBrokerClient uri(Address("uri-client"));
  ASSERT_TRUE(uri.Connect(5s).ok());
  BrokerStats stats;
  ASSERT_TRUE(alice.Stats(&stats).ok());
  ASSERT_TRUE(uri.Stats(&stats).ok());
  const std::string log = ReadFile(log_path());
  EXPECT_NE(log.find("identity=alice"), std::string::npos) << log;
  EXPECT_NE(log.find("identity=spiffe://meshq.test/svc/echo"), std::string::npos) << log;
  EXPECT_NE(log.find("version=TLSv1.3"), std::string::npos) << log;
}

TEST_F(TlsBrokerTest, OpensslClientExchangesPingAndPong) {
  if (access(kOpenssl, X_OK) != 0) GTEST_SKIP() << kOpenssl << " missing (tools/setup.sh)";
  StartBroker();
  FrameHeader h;
  h.type = FrameType::kPing;
  h.request_id = 0x0102030405060708ull;
  std::string ping;
  AppendFrame(h, {}, &ping);
  const std::string got =
      Converse({kOpenssl, "s_client", "-connect", "127.0.0.1:" + std::to_string(broker_.port()),
                "-CAfile", pki_.cert("ca"), "-cert", pki_.cert("alice"), "-key", pki_.key("alice"),
                "-verify_return_error", "-verify_ip", "127.0.0.1", "-quiet"},
               ping, kFrameHeaderSize, 10s);
  DecodeResult<Frame> r = DecodeFrame(got);
  ASSERT_TRUE(r.ok()) << "s_client printed " << got.size() << " bytes";
  EXPECT_EQ(r.value.header.type, FrameType::kPong);
  EXPECT_EQ(r.value.header.request_id, h.request_id);
  EXPECT_EQ(r.consumed, got.size());
  // The same without a client certificate is refused.
  const std::string refused =
      Converse({kOpenssl, "s_client", "-connect", "127.0.0.1:" + std::to_string(broker_.port()),
                "-CAfile", pki_.cert("ca"), "-quiet"},
               ping, kFrameHeaderSize, 3s);
  EXPECT_EQ(refused, "");
}

TEST_F(TlsBrokerTest, SilentClientIsClosedAfterTheFrameTimeout) {
  StartBroker(true, {"--frame-timeout-ms", "300"});
  const int fd = ConnectLoopback(broker_.port());
  ASSERT_GE(fd, 0);
  const auto start = std::chrono::steady_clock::now();
  // Says nothing: the broker closes it (no ERROR frame: there is no TLS session to send it in).
  EXPECT_EQ(ReadUntilClosed(fd, 5s), "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  close(fd);
  EXPECT_EQ(WaitForHandshakes("timeout", 1), 1);
}

TEST_F(TlsBrokerTest, AuditTalksTlsToTheBroker) {
  StartBroker();
  std::string out;
  const std::string broker = "127.0.0.1:" + std::to_string(broker_.port());
  EXPECT_EQ(RunProgram(
                {MESHQ_AUDIT_PATH, "--broker", broker, "--service", "none", "--tls-ca",
                 pki_.cert("ca"), "--tls-cert", pki_.cert("alice"), "--tls-key", pki_.key("alice")},
                &out, 20s, true),
            0)
      << out;
  out.clear();
  EXPECT_EQ(
      RunProgram({MESHQ_AUDIT_PATH, "--broker", broker, "--service", "none", "--tls-ca",
                  pki_.cert("ca"), "--tls-cert", pki_.cert("alice"), "--tls-key", pki_.key("bob")},
                 &out, 20s, true),
      2);
  EXPECT_NE(out.find("does not match"), std::string::npos) << out;
}

class BrokerStartTest : public TlsBrokerTest {
 protected:
  // Runs the broker to its exit with `args`; returns the status, its output in *out.
  int Run(std::vector<std::string> args, std::string* out) {
    std::vector<std::string> argv = {MESHQ_BROKER_PATH, "--dir", broker_.dir() + "/store", "--port",
                                     "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, out, 20s, /*with_stderr=*/true);
  }
};

TEST_F(BrokerStartTest, PlaintextOnANonLoopbackAddressIsRefused) {
  std::string out;
  EXPECT_EQ(Run({"--bind", "0.0.0.0"}, &out), 2);
  EXPECT_NE(out.find("not a loopback address"), std::string::npos) << out;
  // Allowed with --insecure-plaintext, or with TLS: this address (TEST-NET-1) is on no
  // interface, so the broker gets as far as binding and fails there (status 1), never
  // listening on anything.
  out.clear();
  EXPECT_EQ(Run({"--bind", "192.0.2.1", "--insecure-plaintext"}, &out), 1);
  EXPECT_EQ(out.find("not a loopback address"), std::string::npos) << out;
  EXPECT_NE(out.find("192.0.2.1"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(Run({"--bind", "192.0.2.1", "--tls-cert", pki_.cert("broker"), "--tls-key",
                 pki_.key("broker")},
                &out),
            1);
  EXPECT_EQ(out.find("not a loopback address"), std::string::npos) << out;
}

TEST_F(BrokerStartTest, UnusableTlsFilesAreNamedWithStatus2) {
  const std::string missing = broker_.dir() + "/missing.pem";
  std::string out;
  EXPECT_EQ(Run({"--tls-cert", missing, "--tls-key", pki_.key("broker")}, &out), 2);
  EXPECT_NE(out.find(missing), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(Run({"--tls-cert", pki_.cert("broker"), "--tls-key", pki_.key("alice")}, &out), 2);
  EXPECT_NE(out.find(pki_.key("alice")), std::string::npos) << out;
  EXPECT_NE(out.find("does not match"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(Run({"--tls-cert", pki_.cert("broker"), "--tls-key", pki_.key("broker"),
                 "--tls-client-ca", missing},
                &out),
            2);
  EXPECT_NE(out.find(missing), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(Run({"--tls-cert", pki_.cert("expired"), "--tls-key", pki_.key("expired")}, &out), 2);
  EXPECT_NE(out.find("expired on"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(Run({"--tls-client-ca", pki_.cert("ca")}, &out), 2);
}

}  // namespace
}  // namespace meshq::bridge
