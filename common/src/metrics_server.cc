// MetricsServer: one io_context on one thread; a session per connection that reads one request
// head, answers it and closes, under one deadline for the whole exchange.
#include "meshq/metrics_server.h"

#include <pthread.h>

#include <atomic>
#include <boost/asio.hpp>
#include <thread>

#include "http_request_head.h"

namespace meshq {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::string Response(std::string_view status, std::string_view content_type, std::string_view body,
                     bool head_only, std::string_view extra = {}) {
  std::string out = "HTTP/1.1 ";
  out += status;
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size());
  out += "\r\nConnection: close\r\n";
  out += extra;
  out += "\r\n";
  if (!head_only) out += body;
  return out;
}

constexpr std::string_view kText = "text/plain; charset=utf-8";

class MetricsServerImpl;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, MetricsServerImpl* server);
  ~Session();
  void Start();

 private:
  void Read();
  void Answer(std::string response);
  // After the answer: reads what the client still sends until it closes (or the deadline), so
  // the close does not reset the connection before the client has read the answer.
  void Drain();
  void Finish();

  tcp::socket socket_;
  MetricsServerImpl* const server_;
  asio::steady_timer deadline_;
  std::string in_;
  std::string out_;
};

class MetricsServerImpl final : public MetricsServer {
 public:
  MetricsServerImpl(const MetricsServerOptions& options, MetricsRegistry* registry,
                    HealthCheck health)
      : options_(options), registry_(registry), health_(std::move(health)), acceptor_(context_) {}

  ~MetricsServerImpl() override {
    context_.stop();
    if (thread_.joinable()) thread_.join();
  }

  Status Init() {
    try {
      tcp::endpoint ep(asio::ip::make_address(options_.bind), options_.port);
      acceptor_.open(ep.protocol());
      acceptor_.set_option(asio::socket_base::reuse_address(true));
      acceptor_.bind(ep);
      acceptor_.listen();
      port_ = acceptor_.local_endpoint().port();
    } catch (const boost::system::system_error& e) {
      return Status::IOError("metrics " + options_.bind + ":" + std::to_string(options_.port) +
                             ": " + e.code().message());
    }
    Accept();
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), options_.thread_name.substr(0, 15).c_str());
      context_.run();
    });
    return Status::OK();
  }

  uint16_t port() const override { return port_; }

  const MetricsServerOptions& options() const { return options_; }
  size_t& active() { return active_; }

  // The whole answer to one request head.
  std::string Handle(const HttpRequestHead& request) {
    const bool head_only = request.method == "HEAD";
    if (request.method != "GET" && !head_only) {
      return Response("405 Method Not Allowed", kText, "only GET and HEAD\n", false,
                      "Allow: GET, HEAD\r\n");
    }
    if (request.path == "/metrics") {
      return Response("200 OK", MetricsRegistry::kContentType, registry_->Render(), head_only);
    }
    if (request.path == "/healthz") {
      const Status s = health_ ? health_() : Status::OK();
      if (s.ok()) return Response("200 OK", kText, "ok\n", head_only);
      return Response("503 Service Unavailable", kText,
                      "unhealthy: " + std::string(s.message()) + "\n", head_only);
    }
    return Response("404 Not Found", kText, "not found; try /metrics or /healthz\n", head_only);
  }

 private:
  void Accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        if (active_ >= options_.max_connections) {
          // Best effort and never blocking: this thread serves the other connections.
          static const std::string busy =
              Response("503 Service Unavailable", kText, "too many connections\n", false);
          boost::system::error_code ignored;
          socket.non_blocking(true, ignored);
          socket.write_some(asio::buffer(busy), ignored);
          socket.close(ignored);
        } else {
          std::make_shared<Session>(std::move(socket), this)->Start();
        }
      } else {
        // Out of descriptors or similar: wait a little rather than spin on the error.
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      Accept();
    });
  }

  const MetricsServerOptions options_;
  MetricsRegistry* const registry_;
  const HealthCheck health_;
  size_t active_ = 0;  // sessions alive (the server's thread only); outlives them
  asio::io_context context_{1};
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
};

Session::Session(tcp::socket socket, MetricsServerImpl* server)
    : socket_(std::move(socket)), server_(server), deadline_(socket_.get_executor()) {
  ++server_->active();
}

Session::~Session() { --server_->active(); }

void Session::Start() {
  deadline_.expires_after(server_->options().timeout);
  deadline_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) {
      boost::system::error_code ignored;
      self->socket_.close(ignored);  // a slow client: its pending read or write fails
    }
  });
  Read();
}

void Session::Read() {
  const size_t limit = server_->options().max_request_bytes;
  const size_t have = in_.size();
  in_.resize(std::max(limit, have + 1));
  socket_.async_read_some(
      asio::buffer(in_.data() + have, in_.size() - have),
      [self = shared_from_this(), have, limit](boost::system::error_code ec, size_t n) {
        self->in_.resize(have + n);
        if (ec) return;  // closed, reset or timed out: nothing to answer
        DecodeResult<HttpRequestHead> r = DecodeHttpRequestHead(self->in_, limit);
        if (r.need_more()) return self->Read();
        if (r.failed()) {
          return self->Answer(r.error.IsInvalidArgument()
                                  ? Response("431 Request Header Fields Too Large", kText,
                                             "request head too large\n", false)
                                  : Response("400 Bad Request", kText,
                                             std::string(r.error.message()) + "\n", false));
        }
        self->Answer(self->server_->Handle(r.value));
      });
}

void Session::Answer(std::string response) {
  out_ = std::move(response);
  asio::async_write(socket_, asio::buffer(out_),
                    [self = shared_from_this()](boost::system::error_code ec, size_t) {
                      if (ec) return self->Finish();
                      boost::system::error_code ignored;
                      self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                      self->in_.resize(4096);
                      self->Drain();
                    });
}

void Session::Drain() {
  socket_.async_read_some(asio::buffer(in_),
                          [self = shared_from_this()](boost::system::error_code ec, size_t) {
                            if (ec) return self->Finish();
                            self->Drain();
                          });
}

void Session::Finish() {
  boost::system::error_code ignored;
  socket_.close(ignored);
  deadline_.cancel();
}

}  // namespace

Status MetricsServer::Start(const MetricsServerOptions& options, MetricsRegistry* registry,
                            HealthCheck health, std::unique_ptr<MetricsServer>* server) {
  auto impl = std::make_unique<MetricsServerImpl>(options, registry, std::move(health));
  Status s = impl->Init();
  if (!s.ok()) return s;
  *server = std::move(impl);
  return Status::OK();
}

}  // namespace meshq
