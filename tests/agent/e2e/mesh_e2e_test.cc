// The whole mesh as separate processes on loopback: etcd, three provider simulators with their
// provider-agents (weights 1:2:3) and one consumer-agent. Checks every HTTP answer against an
// independent Java String.hashCode, pipelining, malformed requests, and what happens when a
// provider dies (crash) or leaves (graceful shutdown) under load. MeshTlsTest: the same mesh with
// TLS on every agent link and a secured etcd (tools/etcd.sh --tls), and the agents' refusals to
// start on a bad certificate or a plaintext non-loopback port.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "etcd_process.h"
#include "test_pki.h"

namespace meshq::agent {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using testing::ChildProcess;

constexpr const char* kService = "com.alibaba.dubbo.performance.demo.provider.IHelloService";

// Independent oracle: Java's String.hashCode over UTF-16 code units of (valid) UTF-8 input.
int32_t JavaHash(const std::string& utf8) {
  uint32_t h = 0;
  for (size_t i = 0; i < utf8.size();) {
    const unsigned char c = utf8[i];
    uint32_t cp;
    int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (utf8[i + k] & 0x3F);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      h = h * 31 + (0xD800 + (cp >> 10));
      h = h * 31 + (0xDC00 + (cp & 0x3FF));
    } else {
      h = h * 31 + cp;
    }
  }
  return static_cast<int32_t>(h);
}

std::string FormEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string CallBody(const std::string& parameter) {
  return std::string("interface=") + kService +
         "&method=hash&parameterTypesString=Ljava%2Flang%2FString%3B&parameter=" +
         FormEncode(parameter);
}

// Random text mixing ASCII, form metacharacters, accented, CJK and non-BMP characters.
std::string RandomParameter(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {"a",
                                                  "Z",
                                                  "0",
                                                  " ",
                                                  "+",
                                                  "&",
                                                  "=",
                                                  "%",
                                                  "\xc3\xa9",
                                                  "\xc3\xbc",
                                                  "\xe4\xb8\xad",
                                                  "\xe6\x96\x87",
                                                  "\xf0\x9f\x98\x80",
                                                  "\xf0\x9d\x84\x9e",
                                                  "hello",
                                                  "\xd0\x96"};
  std::string out;
  const int n = static_cast<int>(rng() % 24);
  for (int i = 0; i < n; ++i) out += pieces[rng() % pieces.size()];
  return out;
}

struct Reply {
  int status = 0;  // 0: the connection failed (no HTTP answer)
  std::string body;
};

// A keep-alive HTTP/1.1 client over one connection.
class Client {
 public:
  explicit Client(uint16_t port) : port_(port) {}

  Reply Post(const std::string& body) { return Send(bhttp::verb::post, "/", body); }
  Reply Get(const std::string& target) { return Send(bhttp::verb::get, target, ""); }

  // Writes raw bytes and reads `count` answers in order (pipelining).
  std::vector<Reply> Raw(const std::string& bytes, int count) {
    std::vector<Reply> out;
    boost::system::error_code ec;
    if (!Connect()) return out;
    asio::write(socket_, asio::buffer(bytes), ec);
    for (int i = 0; i < count && !ec; ++i) {
      bhttp::response<bhttp::string_body> res;
      bhttp::read(socket_, buffer_, res, ec);
      if (!ec) out.push_back({static_cast<int>(res.result_int()), res.body()});
    }
    return out;
  }

 private:
  bool Connect() {
    if (socket_.is_open()) return true;
    boost::system::error_code ec;
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
    if (ec) socket_.close();
    buffer_.clear();
    return !ec;
  }

  Reply Send(bhttp::verb verb, const std::string& target, const std::string& body) {
    if (!Connect()) return {};
    bhttp::request<bhttp::string_body> req{verb, target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    if (verb == bhttp::verb::post) {
      req.set(bhttp::field::content_type, "application/x-www-form-urlencoded");
      req.body() = body;
      req.prepare_payload();
    }
    boost::system::error_code ec;
    bhttp::write(socket_, req, ec);
    bhttp::response<bhttp::string_body> res;
    if (!ec) bhttp::read(socket_, buffer_, res, ec);
    if (ec) {
      socket_.close();
      return {};
    }
    if (!res.keep_alive()) socket_.close();
    return {static_cast<int>(res.result_int()), res.body()};
  }

  asio::io_context io_;
  tcp::socket socket_{io_};
  boost::beast::flat_buffer buffer_;
  uint16_t port_;
};

class MeshTest : public ::testing::Test {
 protected:
  struct Provider {
    std::unique_ptr<ChildProcess> sim;
    std::unique_ptr<ChildProcess> agent;
    std::string agent_address;
    uint16_t metrics_port = 0;
  };

  void SetUp() override {
    char tmpl[] = "/tmp/meshq-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string error;
    ASSERT_TRUE(etcd_.Start(&error)) << error;
    const int capacities[] = {4, 8, 12};
    for (int i = 0; i < 3; ++i) {
      Provider p;
      p.sim = std::make_unique<ChildProcess>();
      // --fault-parameters: only parameters "fault:..." misbehave (FailuresHaveTheirOwnStatus).
      ASSERT_TRUE(p.sim->Start({MESHQ_PROVIDER_SIM_BIN, "--port", "0", "--latency-ms", "20",
                                "--capacity", std::to_string(capacities[i]), "--fault-parameters"},
                               dir_ + "/sim" + std::to_string(i) + ".log"));
      std::string sim_address;
      ASSERT_TRUE(p.sim->WaitForLine("listening on ", 10s, &sim_address));
      p.agent = std::make_unique<ChildProcess>();
      ASSERT_TRUE(p.agent->Start({MESHQ_AGENT_BIN, "--role", "provider", "--mode", "direct",
                                  "--etcd", etcd_.endpoint(), "--provider", sim_address, "--weight",
                                  std::to_string(i + 1), "--lease-ttl", "2", "--metrics-port", "0"},
                                 dir_ + "/provider-agent" + std::to_string(i) + ".log"));
      std::string metrics_address;
      ASSERT_TRUE(p.agent->WaitForLine("metrics on 127.0.0.1:", 10s, &metrics_address));
      p.metrics_port = static_cast<uint16_t>(std::stoi(metrics_address));
      ASSERT_TRUE(p.agent->WaitForLine("listening on ", 10s, &p.agent_address));
      providers_.push_back(std::move(p));
    }
    consumer_ = std::make_unique<ChildProcess>();
    ASSERT_TRUE(
        consumer_->Start({MESHQ_AGENT_BIN, "--role", "consumer", "--mode", "direct", "--etcd",
                          etcd_.endpoint(), "--timeout-ms", "3000", "--metrics-port", "0"},
                         dir_ + "/consumer-agent.log"));
    std::string address;
    ASSERT_TRUE(consumer_->WaitForLine("metrics on 127.0.0.1:", 10s, &address));
    metrics_port_ = static_cast<uint16_t>(std::stoi(address));
    ASSERT_TRUE(consumer_->WaitForLine("listening on 127.0.0.1:", 10s, &address));
    port_ = static_cast<uint16_t>(std::stoi(address));
    ASSERT_TRUE(WaitForEndpoints(3, 5s)) << Endpoints();
  }

  void TearDown() override {
    if (consumer_) consumer_->Kill(SIGTERM);
    for (auto& p : providers_) {
      if (p.agent) p.agent->Kill(SIGTERM);
      if (p.sim) p.sim->Kill(SIGTERM);
    }
    etcd_.Kill();
    std::error_code ec;
    if (!HasFailure()) std::filesystem::remove_all(dir_, ec);
  }

  std::string Endpoints() {
    Client c(port_);
    return c.Get("/endpoints").body;
  }

  static int CountLines(const std::string& s, const std::string& needle = "") {
    int n = 0;
    size_t start = 0, nl;
    while ((nl = s.find('\n', start)) != std::string::npos) {
      if (s.substr(start, nl - start).find(needle) != std::string::npos) ++n;
      start = nl + 1;
    }
    return n;
  }

  // The line of `text` containing `needle`, or "".
  static std::string LineWith(const std::string& text, const std::string& needle) {
    const size_t at = text.find(needle);
    if (at == std::string::npos) return "";
    const size_t start = text.rfind('\n', at);
    const size_t begin = start == std::string::npos ? 0 : start + 1;
    return text.substr(begin, text.find('\n', at) - begin);
  }

  bool WaitForEndpoints(int count, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (CountLines(Endpoints(), kService) == count) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  std::string dir_;
  testing::EtcdProcess etcd_;
  std::vector<Provider> providers_;
  std::unique_ptr<ChildProcess> consumer_;
  uint16_t port_ = 0;
  uint16_t metrics_port_ = 0;  // the consumer-agent's /metrics
};

// The value of the series written exactly as `series` ("name{labels}") in `text`; -1 if absent.
double SeriesValue(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

// Runs `promtool check metrics` over `text`; its verdict and output.
bool PromtoolAccepts(const std::string& text, const std::string& dir, std::string* output) {
  const std::string in = dir + "/scrape.txt", out = dir + "/promtool.out";
  {
    std::ofstream f(in);
    f << text;
  }
  const int rc = std::system(("promtool check metrics < " + in + " > " + out + " 2>&1").c_str());
  std::ifstream f(out);
  output->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return rc == 0;
}

TEST_F(MeshTest, AgentsServeMetricsThatMoveWithTrafficAndPromtoolAccepts) {
  Client c(port_);
  constexpr int kCalls = 30;
  for (int i = 0; i < kCalls; ++i) {
    const std::string parameter = "metrics-" + std::to_string(i);
    Reply r = c.Post(CallBody(parameter));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  ASSERT_EQ(c.Post("interface=x").status, 400);  // a refused request: method missing

  const Reply consumer = Client(metrics_port_).Get("/metrics");
  ASSERT_EQ(consumer.status, 200);
  const std::string& m = consumer.body;
  EXPECT_EQ(SeriesValue(m, "meshq_agent_requests_total{role=\"consumer\",outcome=\"ok\"}"), kCalls)
      << m;
  EXPECT_EQ(SeriesValue(m, "meshq_agent_requests_total{role=\"consumer\",outcome=\"bad_request\"}"),
            1);
  EXPECT_EQ(SeriesValue(m, "meshq_agent_request_duration_seconds_count{role=\"consumer\"}"),
            kCalls);
  EXPECT_EQ(SeriesValue(m,
                        "meshq_agent_hop_duration_seconds_count{role=\"consumer\",hop=\""
                        "provider_agent\"}"),
            kCalls);
  EXPECT_EQ(SeriesValue(m, "meshq_agent_registry_watch_up{role=\"consumer\"}"), 1);
  EXPECT_EQ(SeriesValue(m, "meshq_agent_registry_endpoints{role=\"consumer\"}"), 3);
  double in_flight = 0;
  for (const Provider& p : providers_) {
    const std::string series =
        "meshq_agent_endpoint_in_flight{endpoint=\"" + p.agent_address + "\"}";
    in_flight += SeriesValue(m, series);
    EXPECT_EQ(SeriesValue(
                  m, "meshq_agent_endpoint_ejections_total{endpoint=\"" + p.agent_address + "\"}"),
              0)
        << m;
  }
  EXPECT_EQ(in_flight, 0) << "every call was answered:\n" << m;
  std::string verdict;
  EXPECT_TRUE(PromtoolAccepts(m, dir_, &verdict)) << verdict << "\n" << m;
  EXPECT_EQ(Client(metrics_port_).Get("/healthz").status, 200);

  double provider_calls = 0;
  for (const Provider& p : providers_) {
    const Reply r = Client(p.metrics_port).Get("/metrics");
    ASSERT_EQ(r.status, 200);
    provider_calls +=
        SeriesValue(r.body, "meshq_agent_requests_total{role=\"provider\",outcome=\"ok\"}");
    EXPECT_EQ(SeriesValue(r.body, "meshq_agent_registry_registered{role=\"provider\"}"), 1);
    EXPECT_TRUE(PromtoolAccepts(r.body, dir_, &verdict)) << verdict << "\n" << r.body;
    EXPECT_EQ(Client(p.metrics_port).Get("/healthz").status, 200);
  }
  EXPECT_EQ(provider_calls, kCalls);
}

TEST_F(MeshTest, AnswersAreJavaHashCodesIncludingNonAscii) {
  Client c(port_);
  const std::vector<std::string> fixed = {"",
                                          "hello",
                                          "a+b c&d=e%f",
                                          "\xc3\xa9t\xc3\xa9",
                                          "\xe4\xb8\xad\xe6\x96\x87",
                                          "\xf0\x9f\x98\x80 smile",
                                          std::string(5000, 'x')};
  EXPECT_EQ(JavaHash("hello"), 99162322);
  for (const std::string& p : fixed) {
    Reply r = c.Post(CallBody(p));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, std::to_string(JavaHash(p))) << p;
  }
  std::mt19937 rng(42);
  for (int i = 0; i < 200; ++i) {
    const std::string p = RandomParameter(rng);
    Reply r = c.Post(CallBody(p));
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(r.body, std::to_string(JavaHash(p))) << p;
  }
}

// The failure table of docs/agent-protocol.md as a caller sees it over HTTP, against providers
// that misbehave on request; none of them costs the calls that follow.
TEST_F(MeshTest, FailuresHaveTheirOwnStatusAndWords) {
  Client c(port_);
  Reply big = c.Post(CallBody("fault:answer-bytes:1100000"));
  EXPECT_EQ(big.status, 502);
  EXPECT_EQ(big.body.rfind("answer too large: answer of ", 0), 0u) << big.body.substr(0, 300);
  Reply deep = c.Post(CallBody("fault:exception-depth:70"));
  EXPECT_EQ(deep.status, 500);
  EXPECT_EQ(deep.body,
            "provider error: java.lang.IllegalStateException: fault level 0 of 70 [exception "
            "object nested deeper than 64 levels: the deeper levels were cut]\n");
  Reply lost = c.Post(CallBody("fault:close"));
  EXPECT_EQ(lost.status, 502);
  EXPECT_EQ(lost.body.rfind("connection lost after sending, outcome unknown: ", 0), 0u)
      << lost.body;
  for (int i = 0; i < 30; ++i) {
    const std::string p = "after" + std::to_string(i);
    Reply r = c.Post(CallBody(p));
    ASSERT_EQ(r.status, 200) << i << ": " << r.body;
    EXPECT_EQ(r.body, std::to_string(JavaHash(p)));
  }
}

TEST_F(MeshTest, PipelinedRequestsAnswerInOrder) {
  std::mt19937 rng(7);
  std::string bytes;
  std::vector<std::string> params;
  for (int i = 0; i < 64; ++i) {
    params.push_back(RandomParameter(rng) + std::to_string(i));
    const std::string body = CallBody(params.back());
    bytes +=
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  Client c(port_);
  std::vector<Reply> replies = c.Raw(bytes, 64);
  ASSERT_EQ(replies.size(), 64u);
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(replies[i].status, 200);
    EXPECT_EQ(replies[i].body, std::to_string(JavaHash(params[i]))) << i;
  }
}

TEST_F(MeshTest, MalformedRequestsGetClear4xxAndUnknownServices5xx) {
  Client c(port_);
  Reply missing = c.Post("interface=x&method=hash&parameterTypesString=Ljava%2Flang%2FString%3B");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.body.find("parameter"), std::string::npos) << missing.body;
  Reply bad_escape = c.Post(CallBody("x") + "%G1");
  EXPECT_EQ(bad_escape.status, 400) << bad_escape.body;
  Reply unknown = c.Post(
      "interface=no.Such&method=hash&parameterTypesString=Ljava%2Flang%2FString%3B&parameter=x");
  EXPECT_EQ(unknown.status, 503);
  EXPECT_NE(unknown.body.find("no provider"), std::string::npos) << unknown.body;
  Reply get = c.Get("/");
  EXPECT_EQ(get.status, 405);
  // The connection survives all of these (keep-alive): a good call still works.
  Reply ok = c.Post(CallBody("hello"));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "99162322");
  // A body over the limit is refused before it is read.
  std::vector<Reply> huge =
      Client(port_).Raw("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n", 1);
  ASSERT_EQ(huge.size(), 1u);
  EXPECT_EQ(huge[0].status, 413);
}

TEST_F(MeshTest, ProviderCrashAndGracefulLeaveLoseNoRequest) {
  enum Phase { kSteady, kCrash, kLeave, kPhases };
  std::atomic<int> phase{kSteady};
  std::atomic<bool> stop{false};
  std::atomic<int> ok[kPhases]{}, wrong[kPhases]{}, server_errors[kPhases]{}, failed[kPhases]{};
  std::mutex mu;
  std::vector<std::string> error_bodies;
  constexpr int kClients = 6;
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      Client c(port_);
      while (!stop.load()) {
        const std::string p = RandomParameter(rng);
        Reply r = c.Post(CallBody(p));
        const int ph = phase.load();  // the phase the answer arrived in
        if (r.status == 200) {
          (r.body == std::to_string(JavaHash(p)) ? ok : wrong)[ph]++;
        } else if (r.status >= 500 && !r.body.empty()) {
          server_errors[ph]++;
          std::lock_guard lock(mu);
          error_bodies.push_back(std::to_string(r.status) + " " + r.body);
        } else {
          failed[ph]++;
        }
      }
    });
  }
  std::this_thread::sleep_for(1s);

  // Crash: the largest provider and its agent die at once (no deregistration).
  phase = kCrash;
  const std::string crashed = providers_[2].agent_address;
  providers_[2].sim->Kill(SIGKILL);
  providers_[2].agent->Kill(SIGKILL);
  const auto crash_time = std::chrono::steady_clock::now();
  // The consumer stops using it at once (link failure ejects it) ...
  bool ejected = false;
  while (!ejected && std::chrono::steady_clock::now() - crash_time < 1s) {
    const std::string line = LineWith(Endpoints(), crashed);
    ejected = line.empty() || line.find("ejected=1") != std::string::npos;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(ejected) << Endpoints();
  // ... and the registry drops it when its lease (TTL 2 s) expires, seen through the watch.
  EXPECT_TRUE(WaitForEndpoints(2, 6s)) << Endpoints();
  std::this_thread::sleep_for(500ms);

  // Graceful: provider-agent 1 is told to stop; it deregisters and drains.
  phase = kLeave;
  const auto leave_time = std::chrono::steady_clock::now();
  const std::string leaving = providers_[1].agent_address;
  std::thread stopper([&] { providers_[1].agent->Kill(SIGTERM); });
  bool gone = false;
  while (!gone && std::chrono::steady_clock::now() - leave_time < 2s) {
    gone = Endpoints().find(leaving) == std::string::npos;
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(gone) << "still listed after 2 s: " << Endpoints();
  stopper.join();
  std::this_thread::sleep_for(1s);
  stop = true;
  for (auto& t : clients) t.join();

  for (int ph = 0; ph < kPhases; ++ph) {
    SCOPED_TRACE("phase " + std::to_string(ph));
    EXPECT_GT(ok[ph].load(), 0);
    EXPECT_EQ(wrong[ph].load(), 0);
    EXPECT_EQ(failed[ph].load(), 0) << "requests without an HTTP answer";
  }
  EXPECT_EQ(server_errors[kSteady].load(), 0) << (error_bodies.empty() ? "" : error_bodies[0]);
  // Only calls already sent to the crashed provider may fail (each client has one in flight).
  EXPECT_LE(server_errors[kCrash].load(), kClients);
  EXPECT_EQ(server_errors[kLeave].load(), 0) << "a graceful leave must not fail any call";
  for (const std::string& b : error_bodies) {
    EXPECT_TRUE(b.starts_with("502 ") || b.starts_with("500 ")) << b;
  }
  std::printf("ok per phase: %d %d %d; 5xx during crash: %d\n", ok[0].load(), ok[1].load(),
              ok[2].load(), server_errors[kCrash].load());
}

class MeshTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(pki_.error(), "");
    std::string error;
    ASSERT_TRUE(etcd_.Start(pki_.dir(), &error)) << error;
  }

  // The registry flags every agent of the secured mesh gets.
  std::vector<std::string> RegistryFlags() const {
    return {"--etcd",          etcd_.endpoint(), "--etcd-tls-ca",        pki_.cert("ca"),
            "--etcd-tls-cert", etcd_.cert(),     "--etcd-tls-key",       etcd_.key(),
            "--etcd-user",     etcd_.user(),     "--etcd-password-file", etcd_.password_file()};
  }

  static std::vector<std::string> Join(std::vector<std::string> a,
                                       const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  // Runs the agent with `args` and returns its exit status (it must exit within 10 s); its
  // stderr goes to *err.
  int RunToExit(const std::vector<std::string>& args, std::string* err) {
    ChildProcess p;
    const std::string log = pki_.dir() + "/refused.log";
    std::filesystem::remove(log);
    std::vector<std::string> argv = {MESHQ_AGENT_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    EXPECT_TRUE(p.Start(argv, log));
    int status = -1;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (waitpid(p.pid(), &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        p.Kill(SIGKILL);
        return -1;
      }
      std::this_thread::sleep_for(10ms);
    }
    std::ifstream f(log);
    err->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Whether the consumer-agent behind `client` lists the provider-agent at `address` (5 s).
  static bool Discovers(Client& client, const std::string& address) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (client.Get("/endpoints").body.find(address) != std::string::npos) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  meshq::testing::TestPki pki_;
  testing::SecureEtcdProcess etcd_;
};

TEST_F(MeshTlsTest, CallsAreAnsweredOverTlsWithASecuredRegistry) {
  ChildProcess sim, provider, consumer;
  const std::string dir = pki_.dir();
  ASSERT_TRUE(
      sim.Start({MESHQ_PROVIDER_SIM_BIN, "--port", "0", "--latency-ms", "1"}, dir + "/sim.log"));
  std::string sim_address;
  ASSERT_TRUE(sim.WaitForLine("listening on ", 10s, &sim_address));
  ASSERT_TRUE(provider.Start(Join({MESHQ_AGENT_BIN, "--role", "provider", "--provider", sim_address,
                                   "--lease-ttl", "2", "--tls-cert", pki_.cert("broker"),
                                   "--tls-key", pki_.key("broker"), "--tls-ca", pki_.cert("ca")},
                                  RegistryFlags()),
                             dir + "/provider-agent.log"));
  std::string agent_address;
  ASSERT_TRUE(provider.WaitForLine("listening on ", 10s, &agent_address));
  ASSERT_TRUE(consumer.Start(
      Join({MESHQ_AGENT_BIN, "--role", "consumer", "--timeout-ms", "3000", "--tls-cert",
            pki_.cert("alice"), "--tls-key", pki_.key("alice"), "--tls-ca", pki_.cert("ca")},
           RegistryFlags()),
      dir + "/consumer-agent.log"));
  std::string address;
  ASSERT_TRUE(consumer.WaitForLine("listening on 127.0.0.1:", 10s, &address));
  Client client(static_cast<uint16_t>(std::stoi(address)));
  ASSERT_TRUE(Discovers(client, agent_address));
  std::mt19937 rng(17);
  for (int i = 0; i < 50; ++i) {
    const std::string parameter = RandomParameter(rng);
    const Reply r = client.Post(CallBody(parameter));
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(r.body, std::to_string(JavaHash(parameter)));
  }
  // A consumer-agent with a foreign CA's certificate finds the provider but gets no call through.
  ChildProcess rogue;
  ASSERT_TRUE(rogue.Start(
      Join({MESHQ_AGENT_BIN, "--role", "consumer", "--timeout-ms", "2000", "--tls-cert",
            pki_.cert("foreign"), "--tls-key", pki_.key("foreign"), "--tls-ca", pki_.cert("ca")},
           RegistryFlags()),
      dir + "/rogue-agent.log"));
  ASSERT_TRUE(rogue.WaitForLine("listening on 127.0.0.1:", 10s, &address));
  Client rogue_client(static_cast<uint16_t>(std::stoi(address)));
  ASSERT_TRUE(Discovers(rogue_client, agent_address));
  const Reply refused = rogue_client.Post(CallBody("x"));
  EXPECT_NE(refused.status, 200) << refused.body;
}

TEST_F(MeshTlsTest, AgentRefusesToStartOnBadCertificatesOrPlaintextNonLoopback) {
  std::string err;
  // An expired certificate: a clear message and status 2, before anything listens.
  EXPECT_EQ(RunToExit({"--role", "provider", "--etcd", "", "--tls-cert", pki_.cert("expired"),
                       "--tls-key", pki_.key("expired"), "--tls-ca", pki_.cert("ca")},
                      &err),
            2);
  EXPECT_NE(err.find("expired"), std::string::npos) << err;
  // A key that is not the certificate's.
  EXPECT_EQ(RunToExit({"--role", "consumer", "--etcd", "", "--tls-cert", pki_.cert("alice"),
                       "--tls-key", pki_.key("bob"), "--tls-ca", pki_.cert("ca")},
                      &err),
            2);
  EXPECT_NE(err.find(pki_.key("bob")), std::string::npos) << err;
  // A missing registry certificate.
  std::vector<std::string> registry = RegistryFlags();
  registry[5] = pki_.dir() + "/none.pem";  // --etcd-tls-cert
  EXPECT_EQ(RunToExit(Join({"--role", "consumer"}, registry), &err), 2);
  EXPECT_NE(err.find("none.pem"), std::string::npos) << err;
  // The agent links' flags in MQ mode, where the broker has its own.
  EXPECT_EQ(RunToExit({"--role", "consumer", "--mode", "mq", "--etcd", "", "--tls-cert",
                       pki_.cert("alice"), "--tls-key", pki_.key("alice")},
                      &err),
            2);
  EXPECT_NE(err.find("--broker-tls-*"), std::string::npos) << err;
  // Plaintext on a non-loopback address: refused unless --insecure-plaintext.
  EXPECT_EQ(RunToExit({"--role", "provider", "--etcd", "", "--listen", "0.0.0.0:0"}, &err), 2);
  EXPECT_NE(err.find("--insecure-plaintext"), std::string::npos) << err;
  ChildProcess open;
  ASSERT_TRUE(open.Start({MESHQ_AGENT_BIN, "--role", "provider", "--etcd", "", "--listen",
                          "0.0.0.0:0", "--insecure-plaintext"},
                         pki_.dir() + "/open.log"));
  std::string address;
  EXPECT_TRUE(open.WaitForLine("listening on ", 10s, &address));
  // The consumer-agent's HTTP side has no TLS at all: loopback unless --insecure-plaintext.
  EXPECT_EQ(RunToExit({"--role", "consumer", "--etcd", "", "--listen", "0.0.0.0:0"}, &err), 2);
  EXPECT_NE(err.find("--insecure-plaintext"), std::string::npos) << err;
  ChildProcess open_consumer;
  ASSERT_TRUE(open_consumer.Start({MESHQ_AGENT_BIN, "--role", "consumer", "--etcd", "", "--listen",
                                   "0.0.0.0:0", "--insecure-plaintext"},
                                  pki_.dir() + "/open-consumer.log"));
  EXPECT_TRUE(open_consumer.WaitForLine("listening on ", 10s, &address));
}

TEST_F(MeshTlsTest, WrongRegistryPasswordDoesNotRegister) {
  const std::string bad = pki_.dir() + "/bad.password";
  std::ofstream(bad) << "not-the-password\n";
  std::vector<std::string> flags = RegistryFlags();
  flags.back() = bad;
  std::string err;
  EXPECT_EQ(RunToExit(Join({"--role", "provider", "--provider", "127.0.0.1:1"}, flags), &err), 1);
  EXPECT_NE(err.find("authentication failed"), std::string::npos) << err;
}

}  // namespace
}  // namespace meshq::agent
