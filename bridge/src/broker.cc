// Broker: opens the store, accepts connections on io thread 0 and spreads them round-robin over
// the io threads, and shuts down cleanly on SIGTERM/SIGINT.
// Out of descriptors, it refuses connections promptly (meshq/accept_guard.h) instead of spinning.
// With a metrics port, serves /metrics and /healthz on a thread of their own (MetricsServer).
#include "meshq/bridge/broker.h"

#include <pthread.h>

#include <atomic>
#include <boost/asio.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "broker_connection.h"
#include "broker_core.h"
#include "broker_metrics.h"
#include "meshq/accept_guard.h"
#include "meshq/metrics_server.h"
#include "meshq/plaintext_bind.h"
#include "meshq/queue_store.h"

namespace meshq::bridge {
namespace asio = boost::asio;

namespace {

// Loads what the options' security files hold (null for a file not given).
Status LoadSecurityFiles(const BrokerOptions& options, std::unique_ptr<Acl>* acl,
                         std::unique_ptr<AuditKey>* key) {
  if (!options.acl_file.empty()) {
    std::ifstream in(options.acl_file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return Status::InvalidArgument("acl " + options.acl_file + ": cannot be read");
    auto parsed = std::make_unique<Acl>();
    Status s = Acl::Parse(text.str(), parsed.get());
    if (!s.ok())
      return Status::InvalidArgument("acl " + options.acl_file + ": " + std::string(s.message()));
    *acl = std::move(parsed);
  }
  if (!options.audit_key_file.empty()) return AuditKey::Load(options.audit_key_file, key);
  return Status::OK();
}

class BrokerImpl final : public Broker {
 public:
  explicit BrokerImpl(const BrokerOptions& options)
      : options_(options), limits_(options_), accept_guard_("meshq-broker") {}

  ~BrokerImpl() override {
    metrics_server_.reset();  // its scrapes read everything below
    accept_backoff_.reset();  // I/O objects go before their io_context
    acceptor_.reset();
    contexts_.clear();  // connections go before the core they use
    core_.reset();
    if (store_) store_->Close();
  }

  Status Init() {
    std::unique_ptr<AuditKey> audit_key;
    Status s = LoadSecurityFiles(options_, &acl_, &audit_key);
    if (!s.ok()) return s;
    limits_.acl = acl_.get();
    s = InitTls();
    if (!s.ok()) return s;
    std::error_code ec;
    const bool restarted =
        std::filesystem::exists(options_.dir, ec) && !std::filesystem::is_empty(options_.dir, ec);
    StoreOptions so;
    so.dir = options_.dir;
    // A broker's index updates are a steady trickle for as long as it runs: a small memtable
    // keeps its memory flat from the first minutes on (the soak in docs/BENCHMARKS.md).
    so.metadata_write_buffer_bytes = 4u << 20;
    s = QueueStore::Open(so, &store_);
    if (!s.ok()) return s;
    core_ = std::make_unique<BrokerCore>(store_.get(), options_, restarted, &metrics_,
                                         std::move(audit_key));
    s = core_->Recover();
    if (!s.ok()) return s;
    int n = std::max(1, options_.threads);
    for (int i = 0; i < n; ++i) contexts_.push_back(std::make_unique<asio::io_context>(1));
    try {
      asio::ip::tcp::endpoint ep(asio::ip::make_address(options_.bind), options_.port);
      acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(*contexts_[0]);
      acceptor_->open(ep.protocol());
      acceptor_->set_option(asio::socket_base::reuse_address(true));
      acceptor_->bind(ep);
      acceptor_->listen();
      accept_backoff_ = std::make_unique<asio::steady_timer>(*contexts_[0]);
      port_ = acceptor_->local_endpoint().port();
    } catch (const boost::system::system_error& e) {
      return Status::IOError(options_.bind + ":" + std::to_string(options_.port) + ": " +
                             e.code().message());
    }
    if (options_.metrics_port < 0) return Status::OK();
    AddMetrics();
    MetricsServerOptions mo;
    mo.bind = options_.metrics_bind;
    mo.port = static_cast<uint16_t>(options_.metrics_port);
    return MetricsServer::Start(
        mo, &registry_, [this] { return Health(); }, &metrics_server_);
  }

  uint16_t port() const override { return port_; }
  uint16_t metrics_port() const override { return metrics_server_ ? metrics_server_->port() : 0; }

  Status Run() override {
    asio::signal_set signals(*contexts_[0], SIGTERM, SIGINT);
    signals.async_wait([this](boost::system::error_code ec, int) {
      if (!ec) Shutdown();
    });
    Accept();
    std::vector<std::thread> threads;
    for (size_t i = 1; i < contexts_.size(); ++i) {
      threads.emplace_back([ctx = contexts_[i].get(), i] {
        // io thread 0 is the main thread (named after the program).
        pthread_setname_np(pthread_self(), ("meshq-io-" + std::to_string(i)).c_str());
        auto guard = asio::make_work_guard(*ctx);
        ctx->run();
      });
    }
    {
      auto guard = asio::make_work_guard(*contexts_[0]);
      contexts_[0]->run();
    }
    stopping_ = true;
    for (auto& ctx : contexts_) ctx->stop();
    for (auto& t : threads) t.join();
    metrics_server_.reset();
    acceptor_.reset();
    ReportRefusals();
    // Durable state first (offsets, a last Flush), then the store.
    core_->sweeper().Stop();
    core_->committer().Stop();
    Status s = core_->CommitRound(FlushMode::kSync);
    Status c = store_->Close();
    return s.ok() ? c : s;
  }

  void Shutdown() override {
    stopping_ = true;
    for (auto& ctx : contexts_) ctx->stop();
  }

 private:
  // The TLS context, or the refusal of plaintext on a non-loopback address.
  Status InitTls() {
    if (options_.tls.enabled() || !options_.tls.key_file.empty() ||
        !options_.tls.client_ca_file.empty()) {
      return MakeTlsServerContext(options_.tls, &limits_.tls);
    }
    return CheckPlaintextBind("broker", options_.bind, "--tls-cert and --tls-key",
                              options_.insecure_plaintext);
  }

  // Healthy: the store takes writes (no background write failing) and connections are accepted
  // (descriptors left, not shutting down). Runs on the metrics thread.
  Status Health() {
    if (stopping_) return Status::Unavailable("shutting down");
    if (accept_failing_) return Status::Unavailable("not accepting: out of descriptors");
    Status s = store_->BackgroundError();
    if (!s.ok()) return Status::Unavailable("store writes failing: " + s.ToString());
    return Status::OK();
  }

  // What is read at scrape time rather than counted on the data path: the store's figures and
  // the limits' counts (docs/metrics.md).
  void AddMetrics() {
    metrics_.AddStoreMetrics(store_.get());
    MetricsRegistry& r = registry_;
    auto count = [](const std::atomic<uint64_t>& c) {
      return [&c] { return static_cast<double>(c.load(std::memory_order_relaxed)); };
    };
    const char* kRefusedHelp =
        "Operations refused by a limit, by reason (see docs/broker-protocol.md, Limits).";
    r.AddCallbackCounter("meshq_broker_refused_total", kRefusedHelp, count(refused_descriptors_),
                         {{"reason", "out_of_descriptors"}});
    r.AddCallbackCounter("meshq_broker_refused_total", kRefusedHelp, count(limits_.refused_memory),
                         {{"reason", "max_buffered_bytes"}});
    r.AddCallbackCounter("meshq_broker_refused_total", kRefusedHelp, count(limits_.refused_parked),
                         {{"reason", "max_parked_fetches"}});
    const char* kClosedHelp = "Connections the broker closed for a timeout, by which.";
    r.AddCallbackCounter("meshq_broker_connections_timed_out_total", kClosedHelp,
                         count(limits_.frame_timeouts), {{"timeout", "frame"}});
    r.AddCallbackCounter("meshq_broker_connections_timed_out_total", kClosedHelp,
                         count(limits_.idle_timeouts), {{"timeout", "idle"}});
    const char* kTlsHelp = "TLS handshakes, by result (failed and timeout close the connection).";
    r.AddCallbackCounter("meshq_broker_tls_handshakes_total", kTlsHelp,
                         count(limits_.tls_handshakes), {{"result", "ok"}});
    r.AddCallbackCounter("meshq_broker_tls_handshakes_total", kTlsHelp,
                         count(limits_.tls_handshake_failures), {{"result", "failed"}});
    r.AddCallbackCounter("meshq_broker_tls_handshakes_total", kTlsHelp,
                         count(limits_.tls_handshake_timeouts), {{"result", "timeout"}});
    r.AddCallbackGauge(
        "meshq_broker_buffered_input_bytes",
        "Input held for frames larger than one read, over all connections (--max-buffered-bytes).",
        [this] { return static_cast<double>(limits_.buffered.load(std::memory_order_relaxed)); });
    r.AddCallbackGauge("meshq_broker_dedupe_ids", "Request ids the dedupe window remembers.",
                       [this] { return static_cast<double>(core_->dedupe_ids()); });
    r.AddCallbackGauge("meshq_broker_dedupe_capacity",
                       "Request ids the dedupe window holds at most (--dedupe-window).",
                       [this] { return static_cast<double>(options_.dedupe_window); });
    r.AddCallbackGauge("meshq_broker_consumer_groups", "Consumer groups held in memory.",
                       [this] { return static_cast<double>(core_->group_count()); });
  }

  void Accept() {
    asio::io_context& target = *contexts_[next_context_++ % contexts_.size()];
    acceptor_->async_accept(
        target, [this](boost::system::error_code ec, asio::ip::tcp::socket socket) {
          if (ec == asio::error::operation_aborted) return;
          if (ec && AcceptGuard::IsExhaustion(ec.value())) {
            // Retrying at once would fail again (the connection stays queued): shed, then wait.
            accept_backoff_->expires_after(
                accept_guard_.OnError(acceptor_->native_handle(), ec.value()));
            accept_failing_ = true;
            refused_descriptors_ = accept_guard_.refused();
            accept_backoff_->async_wait([this](boost::system::error_code e) {
              if (e) return;
              accept_failing_ = false;  // until the next accept fails again
              Accept();
            });
            return;
          }
          if (!ec) {
            accept_guard_.OnSuccess();
            accept_failing_ = false;
            metrics_.connections_accepted()->Inc();
            ConnectionId id = ++next_connection_;
            // Start on the socket's own thread: the connection never runs on another.
            asio::post(socket.get_executor(), [this, id, s = std::move(socket)]() mutable {
              std::make_shared<BrokerConnection>(std::move(s), core_.get(), id, &limits_)->Start();
            });
          }
          Accept();
        });
  }

  // What the limits refused over the broker's life, on stderr at shutdown (nothing when none).
  void ReportRefusals() const {
    const uint64_t counts[] = {accept_guard_.refused(), limits_.refused_memory,
                               limits_.refused_parked, limits_.frame_timeouts,
                               limits_.idle_timeouts};
    if (std::all_of(std::begin(counts), std::end(counts), [](uint64_t n) { return n == 0; })) {
      return;
    }
    std::fprintf(
        stderr,
        "meshq-broker: refused: %llu connections (out of descriptors), %llu over "
        "--max-buffered-bytes, %llu fetches over --max-parked-fetches; closed: %llu "
        "frame timeouts, %llu idle\n",
        static_cast<unsigned long long>(counts[0]), static_cast<unsigned long long>(counts[1]),
        static_cast<unsigned long long>(counts[2]), static_cast<unsigned long long>(counts[3]),
        static_cast<unsigned long long>(counts[4]));
  }

  const BrokerOptions options_;
  std::unique_ptr<Acl> acl_;  // outlives contexts_, as limits_ does
  ConnectionLimits limits_;   // outlives contexts_: their connections point at it
  MetricsRegistry registry_;
  BrokerMetrics metrics_{&registry_};  // outlives core_ and the connections
  std::unique_ptr<QueueStore> store_;
  std::unique_ptr<BrokerCore> core_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
  AcceptGuard accept_guard_;
  std::unique_ptr<asio::steady_timer> accept_backoff_;
  uint16_t port_ = 0;
  size_t next_context_ = 0;
  std::atomic<ConnectionId> next_connection_{0};
  // Health and the refusals, written by io thread 0 and read by scrapes.
  std::atomic<bool> stopping_{false};
  std::atomic<bool> accept_failing_{false};
  std::atomic<uint64_t> refused_descriptors_{0};
  std::unique_ptr<MetricsServer> metrics_server_;  // last: stopped first
};

}  // namespace

Status Broker::CheckOptions(const BrokerOptions& options) {
  std::unique_ptr<Acl> acl;
  std::unique_ptr<AuditKey> key;
  return LoadSecurityFiles(options, &acl, &key);
}

Status Broker::Open(const BrokerOptions& options, std::unique_ptr<Broker>* broker) {
  if (options.dir.empty()) return Status::InvalidArgument("broker: --dir is required");
  auto impl = std::make_unique<BrokerImpl>(options);
  Status s = impl->Init();
  if (!s.ok()) return s;
  *broker = std::move(impl);
  return Status::OK();
}

}  // namespace meshq::bridge
