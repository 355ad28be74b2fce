// The agents' MQ mode: the call <-> RPC payload mapping as pure functions, and a call from the
// consumer-side MqConsumerTransport to an MqProviderTransport through a real meshq-broker, with
// the provider side executing IHelloService.hash in process (Java's String.hashCode).
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <future>
#include <thread>

#include "broker_process.h"
#include "java_hash.h"
#include "meshq/agent/mq_transport.h"

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

}  // namespace
}  // namespace meshq::agent
