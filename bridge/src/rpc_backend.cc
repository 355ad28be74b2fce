// The request-reply backends by URL: meshq-broker or NATS JetStream.
#include "meshq/bridge/rpc_backend.h"

#include <charconv>

#if MESHQ_HAVE_NATS
#include "nats/nats_requester.h"
#include "nats/nats_responder.h"
#endif

namespace meshq::bridge {

namespace {

[[maybe_unused]] constexpr std::string_view kMeshqScheme = "meshq://";
constexpr std::string_view kNatsScheme = "nats://";

Status ParseNats(std::string_view rest, NatsConfig* out) {
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  out->servers.clear();
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view server = rest.substr(0, comma);
    BrokerAddress a;
    if (!ParseBrokerAddress(server, &a) || a.port == 0) {
      return Status::InvalidArgument("nats server '" + std::string(server) + "' is not HOST:PORT");
    }
    out->servers.push_back("nats://" + a.host + ":" + std::to_string(a.port));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  if (out->servers.empty()) return Status::InvalidArgument("nats:// names no server");
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = kv.find('=');
    std::string_view key = kv.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1);
    int64_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || end != value.data() + value.size() || n < 0) {
      return Status::InvalidArgument("nats:// option '" + std::string(kv) + "' is not KEY=N");
    }
    if (key == "replicas" && n >= 1 && n <= 5) {
      out->replicas = static_cast<int>(n);
    } else if (key == "grace_ms") {
      out->responder_grace = std::chrono::milliseconds(n);
    } else if (key == "retention_s" && n > 0) {
      out->retention = std::chrono::seconds(n);
    } else {
      return Status::InvalidArgument("nats:// option '" + std::string(kv) +
                                     "': known are replicas=1..5, grace_ms, retention_s");
    }
  }
  return Status::OK();
}

}  // namespace

Status ParseMqUrl(std::string_view url, MqUrl* out) {
  *out = MqUrl{};
  if (url.substr(0, kNatsScheme.size()) == kNatsScheme) {
#if MESHQ_HAVE_NATS
    return ParseNats(url.substr(kNatsScheme.size()), &out->nats);
#else
    return Status::InvalidArgument("this meshq was built without nats.c (libnats-dev)");
#endif
  }
  std::string_view address = url;
  if (url.substr(0, kMeshqScheme.size()) == kMeshqScheme) {
    address = url.substr(kMeshqScheme.size());
  }
  if (!ParseBrokerAddress(address, &out->broker) || out->broker.port == 0) {
    return Status::InvalidArgument("'" + std::string(url) +
                                   "' is neither meshq://HOST:PORT nor nats://HOST:PORT,...");
  }
  return Status::OK();
}

std::shared_ptr<RpcRequester> CreateRpcRequester(boost::asio::io_context& io,
                                                 RpcClientOptions options, const NatsConfig& nats) {
#if MESHQ_HAVE_NATS
  if (!nats.servers.empty()) return nats::NatsRequester::Create(io, std::move(options), nats);
#else
  (void)nats;  // built without nats.c: ParseMqUrl refuses nats:// URLs
#endif
  return RpcClient::Create(io, std::move(options));
}

std::shared_ptr<RpcResponder> CreateRpcResponder(boost::asio::io_context& io,
                                                 RpcServerOptions options, const NatsConfig& nats,
                                                 RpcResponder::Handler handler) {
#if MESHQ_HAVE_NATS
  if (!nats.servers.empty()) {
    return nats::NatsResponder::Create(io, std::move(options), nats, std::move(handler));
  }
#else
  (void)nats;
#endif
  return RpcServer::Create(io, std::move(options), std::move(handler));
}

}  // namespace meshq::bridge
