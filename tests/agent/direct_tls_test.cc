// Direct mode over TLS, in one process: a consumer-agent's DirectTransport against real
// AgentListeners with certificates made by tools/certs.sh. With TLS on, a provider-agent takes
// only mutually authenticated links: a plaintext peer (even one writing well-formed agent frames),
// one without a certificate, with a foreign CA's or with an expired one is refused at the
// handshake, and no call of theirs reaches the provider. The consumer checks the provider-agent's
// certificate against the address the registry gave.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ssl.hpp>
#include <map>
#include <thread>

#include "agent_frame.h"
#include "meshq/agent/direct_transport.h"
#include "meshq/tls.h"
#include "test_pki.h"
#include "test_provider_side.h"

namespace meshq::agent {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using testing::ProviderSide;
using tcp = asio::ip::tcp;

class DirectTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new meshq::testing::TestPki(); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  void SetUp() override { ASSERT_EQ(pki_->error(), ""); }

  // A provider-agent's listener options with TLS on: its certificate (the PKI's server one
  // carries 127.0.0.1) and mutual TLS against the PKI's CA.
  static AgentListener::Options ServerOptions() {
    AgentListener::Options o;
    TlsServerOptions tls{pki_->cert("broker"), pki_->key("broker"), pki_->cert("ca")};
    EXPECT_TRUE(MakeTlsServerContext(tls, &o.tls).ok());
    return o;
  }

  // A consumer-agent's link context presenting certificate `name` ("" for none).
  static std::shared_ptr<asio::ssl::context> ClientContext(const std::string& name) {
    TlsClientOptions tls;
    tls.ca_file = pki_->cert("ca");
    if (!name.empty()) {
      tls.cert_file = pki_->cert(name);
      tls.key_file = pki_->key(name);
    }
    std::shared_ptr<asio::ssl::context> context;
    Status s = MakeTlsClientContext(tls, &context);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return context;
  }

  // Runs `n` calls through a DirectTransport with `link` options to `side`; their results.
  std::vector<CallResult> RunCalls(ProviderSide& side, AgentLinkOptions link, int n) {
    asio::io_context io;
    auto work = asio::make_work_guard(io);
    DirectTransport::Options options;
    options.link = std::move(link);
    std::vector<CallResult> results;
    {
      DirectTransport transport(io, options);
      transport.UpdateEndpoints({side.Endpoint(1)});
      for (int i = 0; i < n; ++i) {
        CallRequest r;
        r.interface_name = "svc";
        r.method = "hash";
        r.parameter_types = "Ljava/lang/String;";
        r.parameter = "p" + std::to_string(i);
        r.deadline = Clock::now() + 3s;
        transport.Invoke(std::move(r),
                         [&results](CallResult result) { results.push_back(std::move(result)); });
      }
      const auto deadline = Clock::now() + 5s;
      while (results.size() < static_cast<size_t>(n) && Clock::now() < deadline) {
        io.run_for(5ms);
      }
      transport.Shutdown();
    }
    io.run_for(10ms);
    return results;
  }

  // Every call failed, and none reached the provider. A TLS consumer learns of the refusal
  // before it writes a call (not executed: retried elsewhere, never lost); a plaintext one
  // writes at once and cannot know.
  static void ExpectRefused(const std::vector<CallResult>& results, const ProviderSide& side,
                            bool tls_consumer = true) {
    ASSERT_EQ(results.size(), 4u);
    for (const CallResult& r : results) {
      EXPECT_NE(r.status, CallStatus::kOk) << r.body;
      if (tls_consumer) {
        EXPECT_NE(r.status, CallStatus::kLost) << r.body;
      }
    }
    EXPECT_EQ(side.provider.received.load(), 0);
  }

  static meshq::testing::TestPki* pki_;
};

meshq::testing::TestPki* DirectTlsTest::pki_ = nullptr;

TEST_F(DirectTlsTest, MutualTlsCallsAreAnswered) {
  ProviderSide side("1", ServerOptions());
  AgentLinkOptions link;
  link.tls = ClientContext("alice");
  auto results = RunCalls(side, link, 200);
  ASSERT_EQ(results.size(), 200u);
  std::map<std::string, int> bodies;
  for (const CallResult& r : results) {
    ASSERT_EQ(r.status, CallStatus::kOk) << r.body;
    ++bodies[r.body];
  }
  EXPECT_EQ(bodies.size(), 200u);  // every call got its own answer
  EXPECT_EQ(bodies.count("1:p199"), 1u);
}

TEST_F(DirectTlsTest, PlaintextConsumerIsRefused) {
  ProviderSide side("1", ServerOptions());
  ExpectRefused(RunCalls(side, AgentLinkOptions{}, 4), side, /*tls_consumer=*/false);
}

TEST_F(DirectTlsTest, ConsumerWithoutCertificateIsRefused) {
  ProviderSide side("1", ServerOptions());
  AgentLinkOptions link;
  link.tls = ClientContext("");
  ExpectRefused(RunCalls(side, link, 4), side);
}

TEST_F(DirectTlsTest, ForeignCaCertificateIsRefused) {
  ProviderSide side("1", ServerOptions());
  AgentLinkOptions link;
  link.tls = ClientContext("foreign");
  ExpectRefused(RunCalls(side, link, 4), side);
}

TEST_F(DirectTlsTest, ExpiredCertificateIsRefused) {
  ProviderSide side("1", ServerOptions());
  // MakeTlsClientContext refuses an expired certificate up front; a peer that presents one
  // anyway must fail at the provider-agent's handshake.
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  context->load_verify_file(pki_->cert("ca"));
  context->set_verify_mode(asio::ssl::verify_peer);
  context->use_certificate_chain_file(pki_->cert("expired"));
  context->use_private_key_file(pki_->key("expired"), asio::ssl::context::pem);
  AgentLinkOptions link;
  link.tls = context;
  ExpectRefused(RunCalls(side, link, 4), side);
}

TEST_F(DirectTlsTest, ProviderAgentMustCarryItsRegisteredName) {
  ProviderSide side("1", ServerOptions());
  AgentLinkOptions link;
  link.tls = ClientContext("alice");
  link.tls_server_name = "elsewhere.example";  // not in the provider-agent's certificate
  ExpectRefused(RunCalls(side, link, 4), side);
}

// Writes a service definition and a request, as a consumer-agent would in plaintext, and
// returns whatever comes back within a second (until the provider-agent closes).
std::string WriteRawFrames(const std::string& address) {
  std::string host;
  uint16_t port = 0;
  EXPECT_TRUE(SplitHostPort(address, &host, &port));
  std::string out;
  frame::AppendServiceDef(1, "svc", "hash", "Ljava/lang/String;", &out);
  frame::AppendRequest(7, 1, 0, "hello", &out);
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address(host), port));
  asio::write(socket, asio::buffer(out));
  std::string in;
  char chunk[4096];
  socket.async_read_some(asio::buffer(chunk), [&](const boost::system::error_code& ec, size_t n) {
    if (!ec) in.append(chunk, n);
  });
  io.run_for(1s);
  return in;
}

TEST_F(DirectTlsTest, HandWrittenFrameIsNotAnswered) {
  // Control: the same bytes to a plaintext provider-agent get an answer.
  ProviderSide plain("1");
  const std::string answer = WriteRawFrames(plain.listener->address());
  auto decoded = frame::DecodeFrame(answer);
  ASSERT_TRUE(decoded.ok()) << answer.size();
  EXPECT_EQ(decoded.value.type, frame::Type::kResponse);
  EXPECT_EQ(plain.provider.received.load(), 1);

  ProviderSide tls("1", ServerOptions());
  const std::string refused = WriteRawFrames(tls.listener->address());
  EXPECT_FALSE(frame::DecodeFrame(refused).ok()) << "an agent frame came back";
  EXPECT_EQ(tls.provider.received.load(), 0);
}

}  // namespace
}  // namespace meshq::agent
