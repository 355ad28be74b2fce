// The agents' MQ mode: the call <-> RPC payload mapping as pure functions, and a call from the
// consumer-side MqConsumerTransport to an MqProviderTransport through a real meshq-broker, with
// the provider side executing IHelloService.hash in process (Java's String.hashCode).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <future>
#include <thread>

#include "broker_process.h"
#include "java_hash.h"
#include "meshq/agent/mq_transport.h"
#include "test_pki.h"

namespace meshq::agent {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

TEST(MqCodec, CallAndResultRoundTripAndRejectTruncation) {
  CallRequest call;
  call.parameter_types = "Ljava/lang/String;";
  call.parameter = "héllo wörld";
  std::string bytes;
  EncodeMqCall(call, &bytes);
  CallRequest got;
  ASSERT_TRUE(DecodeMqCall(bytes, &got));
  EXPECT_EQ(got.parameter_types, call.parameter_types);
  EXPECT_EQ(got.parameter, call.parameter);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeMqCall(std::string_view(bytes).substr(0, n), &got)) << n;
  }
  EXPECT_FALSE(DecodeMqCall(bytes + "x", &got));

  bytes.clear();
  EncodeMqResult(CallResult::Error(CallStatus::kProviderError, "boom"), &bytes);
  CallResult result;
  ASSERT_TRUE(DecodeMqResult(bytes, &result));
  EXPECT_EQ(result.status, CallStatus::kProviderError);
  EXPECT_EQ(result.body, "boom");
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeMqResult(std::string_view(bytes).substr(0, n), &result)) << n;
  }
  bytes[0] = 99;  // not a CallStatus
  EXPECT_FALSE(DecodeMqResult(bytes, &result));
}

// The provider behind the provider-agent, in process: IHelloService.hash.
class HashService : public Invoker {
 public:
  void Invoke(CallRequest request, CallCallback done) override {
    ++calls;
    std::int32_t h = 0;
    Status s = JavaStringHash(request.parameter, &h);
    if (!s.ok()) return done(CallResult::Error(CallStatus::kBadRequest, s.ToString()));
    done(CallResult::Ok(std::to_string(h)));
  }
  int calls = 0;
};

// A provider that is down: every call fails before it reaches it.
class DeadService : public Invoker {
 public:
  void Invoke(CallRequest, CallCallback done) override {
    ++calls;
    done(CallResult::Error(CallStatus::kNotExecuted, "connection refused"));
  }
  int calls = 0;
};

// A provider that hangs: calls are sent and never answered; the Dubbo client gives up on each
// after a while (here 300 ms) with a timeout.
class HungService : public Invoker {
 public:
  explicit HungService(asio::io_context& io) : io_(io) {}
  void Invoke(CallRequest, CallCallback done) override {
    ++calls;
    auto t = std::make_shared<asio::steady_timer>(io_, 300ms);
    t->async_wait([t, done](boost::system::error_code) {
      done(CallResult::Error(CallStatus::kTimeout, "no answer from the provider"));
    });
  }
  int calls = 0;

 private:
  asio::io_context& io_;
};

class MqTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.Start());
    options_.broker = broker_.address();
    options_.client_id_prefix = "mq-test";
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    Run([this] {
      consumer_.reset();
      provider_.reset();
      other_.reset();
    });
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  template <typename Fn>
  void Run(Fn fn) {
    std::promise<void> p;
    asio::post(io_, [&] {
      fn();
      p.set_value();
    });
    p.get_future().wait();
  }
  CallResult Call(const std::string& interface_name, const std::string& parameter) {
    auto p = std::make_shared<std::promise<CallResult>>();
    auto f = p->get_future();
    asio::post(io_, [&, p] {
      CallRequest r;
      r.interface_name = interface_name;
      r.method = "hash";
      r.parameter_types = "Ljava/lang/String;";
      r.parameter = parameter;
      r.deadline = Clock::now() + 5s;
      consumer_->Invoke(std::move(r), [p](CallResult result) { p->set_value(std::move(result)); });
    });
    EXPECT_EQ(f.wait_for(20s), std::future_status::ready);
    return f.get();
  }

  bridge::testing::BrokerProcess broker_;
  MqOptions options_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_{asio::make_work_guard(io_)};
  std::thread thread_;
  HashService hash_;
  std::unique_ptr<MqConsumerTransport> consumer_;
  std::unique_ptr<MqProviderTransport> provider_;
  std::unique_ptr<MqProviderTransport> other_;
};

TEST_F(MqTransportTest, ACallReachesTheProviderThroughTheBroker) {
  const std::string service = "com.example.IHelloService";
  Run([&] {
    provider_ = std::make_unique<MqProviderTransport>(io_, options_, service, "127.0.0.1:20880");
    ASSERT_TRUE(provider_->Start(&hash_).ok());
    consumer_ = std::make_unique<MqConsumerTransport>(io_, options_, 0);
  });
  EXPECT_EQ(provider_->address(), "127.0.0.1:20880");
  std::this_thread::sleep_for(150ms);  // the provider joins the service's group
  CallResult r = Call(service, "hello");
  ASSERT_EQ(r.status, CallStatus::kOk) << r.body;
  EXPECT_EQ(r.body, "99162322");          // "hello".hashCode()
  r = Call(service, "\xF0\x9F\x98\x80");  // U+1F600: a surrogate pair in Java
  ASSERT_EQ(r.status, CallStatus::kOk) << r.body;
  EXPECT_EQ(r.body, "1772899");
  EXPECT_EQ(hash_.calls, 2);
  // An interface nobody serves is "no provider", at once.
  r = Call("com.example.Nobody", "x");
  EXPECT_EQ(r.status, CallStatus::kNoProvider) << r.body;
}

// MQ mode through a broker with mutual TLS (the agents' --broker-tls-* flags): the
// provider-agent as bob, the consumer-agent as alice; a consumer-agent without a certificate
// gets no answer from the provider.
TEST_F(MqTransportTest, ACallThroughAMutualTlsBroker) {
  meshq::testing::TestPki pki;
  ASSERT_EQ(pki.error(), "");
  ASSERT_TRUE(broker_.Restart({"--tls-cert", pki.cert("broker"), "--tls-key", pki.key("broker"),
                               "--tls-client-ca", pki.cert("ca")}));
  auto as = [&](const std::string& name) {
    MqOptions o = options_;
    TlsClientOptions tls;
    tls.ca_file = pki.cert("ca");
    if (!name.empty()) {
      tls.cert_file = pki.cert(name);
      tls.key_file = pki.key(name);
    }
    EXPECT_TRUE(bridge::SetBrokerTls(tls, &o.broker).ok());
    return o;
  };
  const std::string service = "com.example.IHelloService";
  Run([&] {
    provider_ = std::make_unique<MqProviderTransport>(io_, as("bob"), service, "127.0.0.1:20880");
    ASSERT_TRUE(provider_->Start(&hash_).ok());
    consumer_ = std::make_unique<MqConsumerTransport>(io_, as("alice"), 0);
  });
  std::this_thread::sleep_for(300ms);  // the provider handshakes and joins the service's group
  CallResult r = Call(service, "hello");
  ASSERT_EQ(r.status, CallStatus::kOk) << r.body;
  EXPECT_EQ(r.body, "99162322");
  Run([&] { consumer_ = std::make_unique<MqConsumerTransport>(io_, as(""), 0); });
  r = Call(service, "hello");
  EXPECT_NE(r.status, CallStatus::kOk) << r.body;
  EXPECT_EQ(hash_.calls, 1);
}

// Two provider-agents, one with its provider down: the calls it takes are handed back unrun and
// it stops taking more, so every call is answered by the other one.
TEST_F(MqTransportTest, ADeadProvidersCallsGoToTheOthers) {
  const std::string service = "com.example.IHelloService";
  DeadService dead;
  Run([&] {
    provider_ = std::make_unique<MqProviderTransport>(io_, options_, service, "127.0.0.1:1");
    ASSERT_TRUE(provider_->Start(&dead).ok());
    other_ = std::make_unique<MqProviderTransport>(io_, options_, service, "127.0.0.1:2");
    ASSERT_TRUE(other_->Start(&hash_).ok());
    consumer_ = std::make_unique<MqConsumerTransport>(io_, options_, 0);
  });
  std::this_thread::sleep_for(150ms);
  int failed = 0;
  for (int i = 0; i < 200; ++i) {
    CallResult r = Call(service, "hello");
    if (r.status != CallStatus::kOk || r.body != "99162322") ++failed;
  }
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(hash_.calls, 200);
  // It probes now and then (one call after each pause), never takes calls as fast as it loses them.
  EXPECT_LT(dead.calls, 30);
}

// One provider-agent's provider hangs: after two timed-out calls it stops taking calls and then
// probes with one call at a time, so only a few calls fail instead of its share of all of them.
TEST_F(MqTransportTest, AHungProviderStopsTakingCalls) {
  const std::string service = "com.example.IHelloService";
  HungService hung(io_);
  Run([&] {
    provider_ = std::make_unique<MqProviderTransport>(io_, options_, service, "127.0.0.1:1");
    ASSERT_TRUE(provider_->Start(&hung).ok());
    other_ = std::make_unique<MqProviderTransport>(io_, options_, service, "127.0.0.1:2");
    ASSERT_TRUE(other_->Start(&hash_).ok());
    consumer_ = std::make_unique<MqConsumerTransport>(io_, options_, 0);
  });
  std::this_thread::sleep_for(150ms);
  // Callers in parallel for 2 s, as a mesh's connections are.
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> callers;
  const auto until = std::chrono::steady_clock::now() + 2s;
  for (int c = 0; c < 8; ++c) {
    callers.emplace_back([&] {
      while (std::chrono::steady_clock::now() < until) {
        CallResult r = Call(service, "hello");
        (r.status == CallStatus::kOk ? ok : failed)++;
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_GT(ok.load(), 100);
  // The first calls it held when it hung (up to 8 in parallel), then one per probe.
  EXPECT_LE(failed.load(), 8 + 6) << ok.load() << " answered";
}

}  // namespace
}  // namespace meshq::agent
