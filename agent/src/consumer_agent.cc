// ConsumerAgent: per-thread workers (acceptor + transport), fed endpoint snapshots by the watch.
#include "meshq/agent/consumer_agent.h"

#include "http_connection.h"
#include "io_threads.h"
#include "meshq/accept_guard.h"
#include "meshq/agent/agent_metrics.h"
#include "registry.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <thread>

namespace meshq::agent {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct ConsumerAgent::Worker {
  explicit Worker(asio::io_context& ctx)
      : io(ctx), acceptor(ctx), backoff(ctx), guard("meshq-agent") {}
  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer backoff;  // pause after a failed accept (e.g. out of descriptors)
  AcceptGuard guard;
  std::unique_ptr<ConsumerTransport> transport;
  size_t inflight = 0;  // calls of this thread's HTTP connections awaiting an answer
};

ConsumerAgent::ConsumerAgent(Options options, ConsumerTransportFactory factory)
    : options_(std::move(options)),
      factory_(std::move(factory)),
      threads_(std::make_unique<IoThreads>(options_.threads)) {}

ConsumerAgent::~ConsumerAgent() { Stop(); }

Status ConsumerAgent::Start() {
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(options_.listen, &host, &port)) {
    return Status::InvalidArgument("bad --listen address: " + options_.listen);
  }
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument("bad --listen host: " + host);
  for (int i = 0; i < threads_->size(); ++i) {
    auto w = std::make_unique<Worker>(threads_->io(i));
    // Thread 0 binds first (port 0 becomes a real port); the others share that port.
    w->acceptor = ListenReusePort(w->io, tcp::endpoint(addr, port), ec);
    if (ec) return Status::IOError("listen on " + options_.listen + ": " + ec.message());
    port = w->acceptor.local_endpoint().port();
    w->transport = factory_(w->io, i);
    workers_.push_back(std::move(w));
  }
  port_ = port;
  for (auto& w : workers_) Accept(w.get());
  threads_->Start();
  if (!options_.etcd.empty()) {
    watcher_ = std::make_unique<ServiceWatcher>(
        options_.etcd, options_.service_prefix,
        [this](const std::vector<ProviderEndpoint>& eps) { SetEndpoints(eps); },
        options_.http.metrics, options_.etcd_access);
    watcher_->Start();
  }
  return Status::OK();
}

void ConsumerAgent::SetEndpoints(const std::vector<ProviderEndpoint>& endpoints) {
  if (options_.http.metrics) options_.http.metrics->SetRegistered(endpoints);
  auto shared = std::make_shared<const std::vector<ProviderEndpoint>>(endpoints);
  for (auto& w : workers_) {
    asio::post(w->io, [t = w->transport.get(), shared] { t->UpdateEndpoints(*shared); });
  }
}

void ConsumerAgent::Accept(Worker* w) {
  w->acceptor.async_accept([this, w](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !w->acceptor.is_open()) return;
    if (ec) {
      // Retrying at once would fail again (out of descriptors, the connection stays queued).
      const std::chrono::milliseconds pause =
          AcceptGuard::IsExhaustion(ec.value())
              ? w->guard.OnError(w->acceptor.native_handle(), ec.value())
              : std::chrono::milliseconds(50);
      w->backoff.expires_after(pause);
      w->backoff.async_wait([this, w](const boost::system::error_code& e) {
        if (!e) Accept(w);
      });
      return;
    }
    w->guard.OnSuccess();
    std::make_shared<HttpConnection>(std::move(socket), w->transport.get(), options_.http,
                                     &w->inflight, &timeouts_)
        ->Start();
    Accept(w);
  });
}

void ConsumerAgent::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (watcher_) watcher_->Stop();
  for (int i = 0; i < static_cast<int>(workers_.size()); ++i) {
    Worker* w = workers_[i].get();
    threads_->RunOn(i, [w] {
      boost::system::error_code ignored;
      w->acceptor.close(ignored);
      w->backoff.cancel();
    });
  }
  // Calls already taken get their answers (bounded), then the transports fail what is left.
  const auto deadline = Clock::now() + options_.drain_timeout;
  while (Clock::now() < deadline) {
    size_t inflight = 0;
    for (int i = 0; i < static_cast<int>(workers_.size()); ++i) {
      threads_->RunOn(i, [&inflight, w = workers_[i].get()] { inflight += w->inflight; });
    }
    if (inflight == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (int i = 0; i < static_cast<int>(workers_.size()); ++i) {
    threads_->RunOn(i, [w = workers_[i].get()] { w->transport->Shutdown(); });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // last answers' writes
  threads_->Stop();
  workers_.clear();
}

}  // namespace meshq::agent
