// EtcdClient over etcd's grpc-gateway: JSON bodies with base64 keys/values, int64s as strings,
// and the watch as a chunked HTTP response carrying one JSON object per line. Over TLS when the
// endpoint is https://; authenticated by an "Authorization: <token>" header when a user is set.
#include "etcd_client.h"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <charconv>

#include "meshq/tls_stream.h"

namespace meshq::agent {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

std::string Base64(std::string_view in) {
  std::string out(beast::detail::base64::encoded_size(in.size()), '\0');
  out.resize(beast::detail::base64::encode(out.data(), in.data(), in.size()));
  return out;
}

std::string Unbase64(std::string_view in) {
  std::string out(beast::detail::base64::decoded_size(in.size()), '\0');
  out.resize(beast::detail::base64::decode(out.data(), in.data(), in.size()).first);
  return out;
}

// The gateway renders int64 fields as JSON strings; absent fields mean 0.
int64_t Int64Field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_string()) {
    int64_t n = 0;
    const json::string& s = v->as_string();
    std::from_chars(s.data(), s.data() + s.size(), n);
    return n;
  }
  return 0;
}

std::string StringField(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

EtcdKeyValue ParseKv(const json::object& kv) {
  EtcdKeyValue out;
  out.key = Unbase64(StringField(kv, "key"));
  out.value = Unbase64(StringField(kv, "value"));
  out.mod_revision = Int64Field(kv, "mod_revision");
  return out;
}

// etcd's gRPC status codes that the gateway passes on in {"code": n}.
constexpr int64_t kGrpcUnauthenticated = 16;
constexpr int64_t kGrpcInvalidArgument = 3;

// Parses a reply body into an object, turning gateway errors ({"error": ..., "code": n}) into
// false with the message (and *code, when given, the gRPC status code).
bool ParseReply(std::string_view text, json::object* out, std::string* error,
                int64_t* code = nullptr) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    *error = "malformed JSON reply: " + std::string(text.substr(0, 200));
    return false;
  }
  json::object& o = v.as_object();
  if (o.contains("error") || (o.contains("code") && !o.contains("header"))) {
    *error = StringField(o, "message");
    if (error->empty()) *error = StringField(o, "error");
    if (code != nullptr) *code = Int64Field(o, "code");
    return false;
  }
  *out = std::move(o);
  return true;
}

constexpr std::chrono::seconds kCallTimeout{3};

std::string Fail(std::string_view op, std::string_view why) {
  return "etcd " + std::string(op) + ": " + std::string(why);
}

// Splits "[http[s]://]host[:port][/]"; *tls when https.
void SplitEndpoint(std::string_view endpoint, bool* tls, std::string* host, std::string* port) {
  *tls = endpoint.starts_with("https://");
  if (endpoint.starts_with("http://")) endpoint.remove_prefix(7);
  if (*tls) endpoint.remove_prefix(8);
  while (endpoint.ends_with('/')) endpoint.remove_suffix(1);
  const size_t colon = endpoint.rfind(':');
  *host = std::string(colon == std::string_view::npos ? endpoint : endpoint.substr(0, colon));
  *port = colon == std::string_view::npos ? "2379" : std::string(endpoint.substr(colon + 1));
}

// A TLS context for an https:// endpoint (into *out), or an error naming the problem.
Status MakeRegistryContext(std::string_view endpoint, const RegistryAccess& access,
                           std::shared_ptr<asio::ssl::context>* out) {
  bool tls = false;
  std::string host, port;
  SplitEndpoint(endpoint, &tls, &host, &port);
  if (!access.user.empty() && access.password.empty()) {
    return Status::InvalidArgument("etcd user " + access.user + " has no password");
  }
  if (!tls) {
    if (access.tls.enabled()) {
      return Status::InvalidArgument("etcd TLS options given for a plaintext endpoint (" +
                                     std::string(endpoint) + "): use https://");
    }
    return Status::OK();
  }
  return MakeTlsClientContext(access.tls, out);
}

}  // namespace

Status CheckRegistryAccess(std::string_view endpoint, const RegistryAccess& access) {
  std::shared_ptr<asio::ssl::context> context;
  return MakeRegistryContext(endpoint, access, &context);
}

namespace {

// The stream of one connection to etcd: TLS when the client has a context.
std::unique_ptr<TlsStream> NewStream(asio::io_context& io,
                                     const std::shared_ptr<asio::ssl::context>& tls) {
  return tls ? std::make_unique<TlsStream>(tcp::socket(io), tls)
             : std::make_unique<TlsStream>(tcp::socket(io));
}

}  // namespace

struct EtcdClient::Connection {
  explicit Connection(const std::shared_ptr<asio::ssl::context>& tls)
      : stream(NewStream(io, tls)) {}
  asio::io_context io;
  std::unique_ptr<TlsStream> stream;
  beast::flat_buffer buffer;
};

EtcdClient::EtcdClient(std::string_view endpoint, const RegistryAccess& access) : access_(access) {
  bool tls = false;
  SplitEndpoint(endpoint, &tls, &host_, &port_);
  config_ = MakeRegistryContext(endpoint, access, &tls_);
}

EtcdClient::~EtcdClient() = default;

std::string EtcdClient::PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

bool EtcdClient::Connect(Connection* c, std::string* error) {
  boost::system::error_code ec;
  tcp::resolver resolver(c->io);
  auto addrs = resolver.resolve(host_, port_, ec);
  if (!ec) {
    asio::async_connect(
        c->stream->socket(), addrs, [&](const boost::system::error_code& e, const tcp::endpoint&) {
          ec = e;
          if (e || !c->stream->tls()) return;
          Status s =
              SetTlsPeerName(c->stream->native_handle(),
                             access_.tls.server_name.empty() ? host_ : access_.tls.server_name);
          if (!s.ok()) {
            ec = asio::error::invalid_argument;
            return;
          }
          c->stream->async_handshake(asio::ssl::stream_base::client,
                                     [&](const boost::system::error_code& e2) { ec = e2; });
        });
    if (!RunWithTimeout(c)) ec = asio::error::timed_out;
  }
  if (ec) {
    *error = (c->stream->tls() && ec.category() == asio::error::get_ssl_category()
                  ? "TLS handshake with "
                  : "connect ") +
             host_ + ":" + port_ + ": " + ec.message();
    return false;
  }
  c->stream->socket().set_option(tcp::no_delay(true), ec);
  return true;
}

bool EtcdClient::Post(std::string_view path, const std::string& body, std::string* reply,
                      std::string* error) {
  // One retry: a kept-alive connection may have been closed by etcd since the last call.
  for (int attempt = 0; attempt < 2; ++attempt) {
    boost::system::error_code ec;
    if (!conn_) {
      conn_ = std::make_unique<Connection>(tls_);
      if (!Connect(conn_.get(), error)) {
        conn_.reset();
        return false;
      }
    }
    http::request<http::string_body> req{http::verb::post, path, 11};
    req.set(http::field::host, host_);
    req.set(http::field::content_type, "application/json");
    if (!token_.empty()) req.set(http::field::authorization, token_);
    req.body() = body;
    req.prepare_payload();
    http::response<http::string_body> res;
    Connection* c = conn_.get();
    http::async_write(*c->stream, req, [&](const boost::system::error_code& e, size_t) {
      ec = e;
      if (!e) {
        http::async_read(*c->stream, c->buffer, res,
                         [&](const boost::system::error_code& e2, size_t) { ec = e2; });
      }
    });
    if (!RunWithTimeout(c)) ec = asio::error::timed_out;
    if (ec) {
      conn_.reset();
      *error = std::string(path) + ": " + ec.message();
      if (ec == asio::error::timed_out) return false;  // a hung etcd: do not wait twice
      continue;
    }
    if (!res.keep_alive()) conn_.reset();
    *reply = std::move(res.body());
    return true;
  }
  return false;
}

bool EtcdClient::RunWithTimeout(Connection* c) {
  // Unary calls are bounded so that a hung etcd cannot hang registration or shutdown.
  c->io.restart();
  c->io.run_for(kCallTimeout);
  if (c->io.stopped()) return true;  // every handler ran
  c->stream->Close();
  c->io.restart();
  c->io.run();  // lets the cancelled handlers finish before their captures go away
  return false;
}

Status EtcdClient::Authenticate() {
  json::object o;
  token_.clear();
  Status s = CallOnce(
      "authenticate", "/v3/auth/authenticate",
      json::serialize(json::object{{"name", access_.user}, {"password", access_.password}}), &o);
  if (!s.ok()) return s;
  token_ = StringField(o, "token");
  if (token_.empty()) return Status::IOError(Fail("authenticate", "no token in reply"));
  return Status::OK();
}

// One unary call: POST, then parse the JSON reply; failures name the operation.
Status EtcdClient::CallOnce(std::string_view op, std::string_view path, const std::string& body,
                            json::object* reply) {
  std::string text;
  std::string error;
  if (!Post(path, body, &text, &error)) return Status::Unavailable(Fail(op, error));
  int64_t code = 0;
  if (!ParseReply(text, reply, &error, &code)) {
    // etcd's token went stale (expired, or etcd restarted): the caller authenticates again.
    if (code == kGrpcUnauthenticated ||
        (code == kGrpcInvalidArgument && error.find("invalid auth token") != std::string::npos)) {
      token_.clear();
    }
    return Status::IOError(Fail(op, error));
  }
  return Status::OK();
}

Status EtcdClient::Call(std::string_view op, std::string_view path, const std::string& body,
                        json::object* reply) {
  if (!config_.ok()) return config_;
  const bool authenticating = !access_.user.empty();
  if (authenticating && token_.empty()) {
    Status s = Authenticate();
    if (!s.ok()) return s;
  }
  Status s = CallOnce(op, path, body, reply);
  if (!s.ok() && authenticating && token_.empty()) {
    s = Authenticate();
    if (s.ok()) s = CallOnce(op, path, body, reply);
  }
  return s;
}

Status EtcdClient::GrantLease(int ttl_seconds, int64_t* lease_id) {
  json::object o;
  Status s = Call("lease grant", "/v3/lease/grant",
                  json::serialize(json::object{{"TTL", ttl_seconds}}), &o);
  if (!s.ok()) return s;
  *lease_id = Int64Field(o, "ID");
  if (*lease_id == 0) return Status::IOError(Fail("lease grant", "no lease id in reply"));
  return Status::OK();
}

Status EtcdClient::KeepAliveOnce(int64_t lease_id, int64_t* ttl_left) {
  json::object o;
  Status s = Call("lease keepalive", "/v3/lease/keepalive",
                  json::serialize(json::object{{"ID", std::to_string(lease_id)}}), &o);
  if (!s.ok()) return s;
  // The streaming endpoint wraps its single answer in {"result": ...}.
  const json::value* result = o.if_contains("result");
  *ttl_left = result != nullptr && result->is_object() ? Int64Field(result->as_object(), "TTL") : 0;
  return Status::OK();
}

Status EtcdClient::RevokeLease(int64_t lease_id) {
  json::object o;
  return Call("lease revoke", "/v3/lease/revoke",
              json::serialize(json::object{{"ID", std::to_string(lease_id)}}), &o);
}

Status EtcdClient::Put(std::string_view key, std::string_view value, int64_t lease_id) {
  json::object req{{"key", Base64(key)}, {"value", Base64(value)}};
  if (lease_id != 0) req["lease"] = std::to_string(lease_id);
  json::object o;
  return Call("put", "/v3/kv/put", json::serialize(req), &o);
}

Status EtcdClient::RangePrefix(std::string_view prefix, std::vector<EtcdKeyValue>* out,
                               int64_t* revision) {
  json::object req{{"key", Base64(prefix)}, {"range_end", Base64(PrefixEnd(prefix))}};
  json::object o;
  Status s = Call("range", "/v3/kv/range", json::serialize(req), &o);
  if (!s.ok()) return s;
  out->clear();
  if (const json::value* kvs = o.if_contains("kvs"); kvs != nullptr && kvs->is_array()) {
    for (const json::value& kv : kvs->as_array()) {
      if (kv.is_object()) out->push_back(ParseKv(kv.as_object()));
    }
  }
  const json::value* header = o.if_contains("header");
  *revision =
      header != nullptr && header->is_object() ? Int64Field(header->as_object(), "revision") : 0;
  return Status::OK();
}

void EtcdClient::Cancel() {
  cancelled_.store(true);
  // Shutting the socket down at the OS level wakes the blocked read in WatchPrefix.
  const int fd = watch_fd_.load();
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

Status EtcdClient::WatchPrefix(
    std::string_view prefix, int64_t start_revision,
    const std::function<void(const std::vector<EtcdEvent>&)>& on_events) {
  if (!config_.ok()) return config_;
  if (!access_.user.empty()) {
    Status s = Authenticate();
    if (!s.ok()) return s;
  }
  Connection c(tls_);
  std::string error;
  if (!Connect(&c, &error)) return Status::Unavailable(Fail("watch", error));
  watch_fd_.store(c.stream->socket().native_handle());
  if (cancelled_.load()) {  // Cancel() ran before the fd was published
    watch_fd_.store(-1);
    return Status::OK();
  }
  json::object create{{"key", Base64(prefix)}, {"range_end", Base64(PrefixEnd(prefix))}};
  if (start_revision > 0) create["start_revision"] = std::to_string(start_revision);
  http::request<http::string_body> req{http::verb::post, "/v3/watch", 11};
  req.set(http::field::host, host_);
  req.set(http::field::content_type, "application/json");
  if (!token_.empty()) req.set(http::field::authorization, token_);
  req.body() = json::serialize(json::object{{"create_request", std::move(create)}});
  req.prepare_payload();
  // Each step runs alone on this thread's io_context: the watch blocks until Cancel() shuts
  // the socket down or etcd ends the stream.
  boost::system::error_code ec;
  auto run = [&c] {
    c.io.restart();
    c.io.run();
  };
  auto done = [&ec](const boost::system::error_code& e, size_t) { ec = e; };
  http::async_write(*c.stream, req, done);
  run();

  // Each chunk of the body carries part of a newline-delimited stream of JSON messages.
  std::string pending;
  std::string parse_error;
  http::response_parser<http::empty_body> parser;
  parser.body_limit(boost::none);
  auto on_chunk = [&](std::uint64_t, std::string_view body, boost::system::error_code&) {
    pending.append(body);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      const std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      json::object o;
      std::string why;
      if (!ParseReply(line, &o, &why)) {
        parse_error = why;
        continue;
      }
      const json::value* result = o.if_contains("result");
      if (result == nullptr || !result->is_object()) continue;
      const json::value* events = result->as_object().if_contains("events");
      if (events == nullptr || !events->is_array()) continue;
      std::vector<EtcdEvent> batch;
      for (const json::value& e : events->as_array()) {
        if (!e.is_object()) continue;
        EtcdEvent ev;
        ev.type = StringField(e.as_object(), "type") == "DELETE" ? EtcdEvent::Type::kDelete
                                                                 : EtcdEvent::Type::kPut;
        if (const json::value* kv = e.as_object().if_contains("kv"); kv && kv->is_object()) {
          ev.kv = ParseKv(kv->as_object());
        }
        batch.push_back(std::move(ev));
      }
      if (!batch.empty()) on_events(batch);
    }
    return body.size();
  };
  parser.on_chunk_body(on_chunk);
  beast::flat_buffer buffer;
  if (!ec) {
    http::async_read_header(*c.stream, buffer, parser, done);
    run();
  }
  while (!ec && !parser.is_done() && !cancelled_.load() && parse_error.empty()) {
    http::async_read_some(*c.stream, buffer, parser, done);
    run();
  }
  watch_fd_.store(-1);
  if (cancelled_.load()) return Status::OK();
  if (!parse_error.empty()) return Status::IOError(Fail("watch", parse_error));
  return Status::Unavailable(Fail("watch", ec ? ec.message() : std::string("stream ended")));
}

}  // namespace meshq::agent
