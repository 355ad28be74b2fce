// The request-reply layer's backends, chosen by one URL: "meshq://HOST:PORT" runs it on
// meshq-broker (RpcClient / RpcServer), "nats://HOST:PORT,HOST:PORT,..." on a NATS JetStream
// cluster (docs/nats-backend.md). Callers hold an RpcRequester / RpcResponder and do not know
// which one they were given.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "meshq/bridge/broker_client.h"
#include "meshq/bridge/rpc_client.h"
#include "meshq/bridge/rpc_requester.h"
#include "meshq/bridge/rpc_responder.h"
#include "meshq/bridge/rpc_server.h"
#include "meshq/status.h"

namespace meshq::bridge {

// Where and how the NATS backend keeps the calls. `servers` empty: not NATS (meshq-broker).
struct NatsConfig {
  std::vector<std::string> servers;  // "nats://host:port" each, any member of one cluster
  // Replicas of the request and reply streams when this process creates them; 0 = 3 with
  // three or more servers given, else 1. Streams created earlier keep theirs.
  int replicas = 0;
  // A service counts as live while one of its responders is subscribed, or sent its heartbeat
  // less than this long ago (a responder restarting does not make callers fail meanwhile).
  std::chrono::milliseconds responder_grace{3000};
  // How long the streams keep calls (for Collect, audit and deduplication of retries).
  std::chrono::seconds retention{3600};
  // Must be unique per cluster user: the streams' names start with it.
  std::string stream_prefix = "MESHQ_RPC";
};

struct MqUrl {
  BrokerAddress broker;  // meshq://
  NatsConfig nats;       // nats:// (servers not empty)
  bool is_nats() const { return !nats.servers.empty(); }
};

// "meshq://HOST:PORT" (or a bare HOST:PORT), "nats://HOST:PORT[,HOST:PORT...][?replicas=N]".
// InvalidArgument naming what is wrong.
Status ParseMqUrl(std::string_view url, MqUrl* out);

// The requester / responder for `nats` (servers empty: meshq-broker at options.broker). For
// NATS, options.broker and the durability fields are not used: JetStream acknowledges a message
// once its stream's replicas hold it (docs/nats-backend.md).
std::shared_ptr<RpcRequester> CreateRpcRequester(boost::asio::io_context& io,
                                                 RpcClientOptions options, const NatsConfig& nats);
std::shared_ptr<RpcResponder> CreateRpcResponder(boost::asio::io_context& io,
                                                 RpcServerOptions options, const NatsConfig& nats,
                                                 RpcResponder::Handler handler);

}  // namespace meshq::bridge
