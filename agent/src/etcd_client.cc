// EtcdClient over etcd's grpc-gateway: JSON bodies with base64 keys/values, int64s as strings,
// and the watch as a chunked HTTP response carrying one JSON object per line.
#include "etcd_client.h"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <charconv>

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

// Parses a reply body into an object, turning gateway errors ({"error": ..., "code": n}) into
// false with the message.
bool ParseReply(std::string_view text, json::object* out, std::string* error) {
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
    return false;
  }
  *out = std::move(o);
  return true;
}

constexpr std::chrono::seconds kCallTimeout{3};

std::string Fail(std::string_view op, std::string_view why) {
  return "etcd " + std::string(op) + ": " + std::string(why);
}

}  // namespace

struct EtcdClient::Connection {
  asio::io_context io;
  tcp::socket socket{io};
  beast::flat_buffer buffer;
};

EtcdClient::EtcdClient(std::string_view endpoint) {
  if (endpoint.starts_with("http://")) endpoint.remove_prefix(7);
  while (endpoint.ends_with('/')) endpoint.remove_suffix(1);
  const size_t colon = endpoint.rfind(':');
  host_ = std::string(colon == std::string_view::npos ? endpoint : endpoint.substr(0, colon));
  port_ = colon == std::string_view::npos ? "2379" : std::string(endpoint.substr(colon + 1));
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

bool EtcdClient::Post(std::string_view path, const std::string& body, std::string* reply,
                      std::string* error) {
  // One retry: a kept-alive connection may have been closed by etcd since the last call.
  for (int attempt = 0; attempt < 2; ++attempt) {
    boost::system::error_code ec;
    if (!conn_) {
      conn_ = std::make_unique<Connection>();
      tcp::resolver resolver(conn_->io);
      auto addrs = resolver.resolve(host_, port_, ec);
      if (!ec) {
        asio::async_connect(
            conn_->socket, addrs,
            [&](const boost::system::error_code& e, const tcp::endpoint&) { ec = e; });
        if (!RunWithTimeout(conn_.get())) ec = asio::error::timed_out;
      }
      if (ec) {
        conn_.reset();
        *error = "connect " + host_ + ":" + port_ + ": " + ec.message();
        return false;
      }
      conn_->socket.set_option(tcp::no_delay(true), ec);
    }
    http::request<http::string_body> req{http::verb::post, path, 11};
    req.set(http::field::host, host_);
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    http::response<http::string_body> res;
    Connection* c = conn_.get();
    http::async_write(c->socket, req, [&](const boost::system::error_code& e, size_t) {
      ec = e;
      if (!e) {
        http::async_read(c->socket, c->buffer, res,
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
  boost::system::error_code ignored;
  c->socket.close(ignored);
  c->io.restart();
  c->io.run();  // lets the cancelled handlers finish before their captures go away
  return false;
}

// One unary call: POST, then parse the JSON reply; failures name the operation.
Status EtcdClient::Call(std::string_view op, std::string_view path, const std::string& body,
                        json::object* reply) {
  std::string text;
  std::string error;
  if (!Post(path, body, &text, &error)) return Status::Unavailable(Fail(op, error));
  if (!ParseReply(text, reply, &error)) return Status::IOError(Fail(op, error));
  return Status::OK();
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
  asio::io_context io;
  tcp::socket socket(io);
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  auto addrs = resolver.resolve(host_, port_, ec);
  if (!ec) asio::connect(socket, addrs, ec);
  if (ec) {
    return Status::Unavailable(
        Fail("watch", "connect " + host_ + ":" + port_ + ": " + ec.message()));
  }
  watch_fd_.store(socket.native_handle());
  if (cancelled_.load()) {  // Cancel() ran before the fd was published
    watch_fd_.store(-1);
    return Status::OK();
  }
  json::object create{{"key", Base64(prefix)}, {"range_end", Base64(PrefixEnd(prefix))}};
  if (start_revision > 0) create["start_revision"] = std::to_string(start_revision);
  http::request<http::string_body> req{http::verb::post, "/v3/watch", 11};
  req.set(http::field::host, host_);
  req.set(http::field::content_type, "application/json");
  req.body() = json::serialize(json::object{{"create_request", std::move(create)}});
  req.prepare_payload();
  http::write(socket, req, ec);

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
  if (!ec) http::read_header(socket, buffer, parser, ec);
  while (!ec && !parser.is_done() && !cancelled_.load() && parse_error.empty()) {
    http::read_some(socket, buffer, parser, ec);
  }
  watch_fd_.store(-1);
  if (cancelled_.load()) return Status::OK();
  if (!parse_error.empty()) return Status::IOError(Fail("watch", parse_error));
  return Status::Unavailable(Fail("watch", ec ? ec.message() : std::string("stream ended")));
}

}  // namespace meshq::agent
