// MQ-mode transports: calls as RPC payloads through the broker.
#include "meshq/agent/mq_transport.h"

#include <algorithm>

#include "meshq/agent/agent_metrics.h"
#include "meshq/bridge/wire.h"

namespace meshq::agent {

using bridge::CallError;
using bridge::WireReader;
using bridge::WireWriter;

void EncodeMqCall(const CallRequest& request, std::string* payload) {
  WireWriter w(payload);
  w.Bytes32(request.parameter_types);
  w.Bytes32(request.parameter);
}

bool DecodeMqCall(std::string_view payload, CallRequest* request) {
  WireReader r(payload);
  std::string_view types, parameter;
  if (!r.Bytes32(&types) || !r.Bytes32(&parameter) || r.remaining() != 0) return false;
  request->parameter_types = std::string(types);
  request->parameter = std::string(parameter);
  return true;
}

void EncodeMqResult(const CallResult& result, std::string* payload) {
  WireWriter w(payload);
  w.U8(static_cast<uint8_t>(result.status));
  w.Bytes32(result.body);
}

bool DecodeMqResult(std::string_view payload, CallResult* result) {
  WireReader r(payload);
  uint8_t status = 0;
  std::string_view body;
  if (!r.U8(&status) || !r.Bytes32(&body) || r.remaining() != 0) return false;
  if (status > static_cast<uint8_t>(CallStatus::kTooLarge)) return false;
  result->status = static_cast<CallStatus>(status);
  result->body = std::string(body);
  return true;
}

namespace {

// Counts one thread's broker link in `metrics` at its transitions only (a failed reconnect
// reports "down" again).
std::function<void(bool)> LinkCounter(AgentMetrics* metrics) {
  if (metrics == nullptr) return {};
  return [metrics, was_up = std::make_shared<bool>(false)](bool up) {
    if (up == *was_up) return;
    *was_up = up;
    metrics->BrokerConnection(up);
  };
}

}  // namespace

MqConsumerTransport::MqConsumerTransport(boost::asio::io_context& io, const MqOptions& options,
                                         int thread) {
  bridge::RpcClientOptions o;
  o.broker = options.broker;
  o.client_id = options.client_id_prefix + "-t" + std::to_string(thread);
  o.request_durability = options.durability;
  o.on_connection = LinkCounter(options.metrics);
  client_ = bridge::CreateRpcRequester(io, o, options.nats);
  client_->Start();
}

MqConsumerTransport::~MqConsumerTransport() { Shutdown(); }

ConsumerTransportFactory MqConsumerTransport::Factory(MqOptions options) {
  return [options](boost::asio::io_context& io, int thread) {
    return std::make_unique<MqConsumerTransport>(io, options, thread);
  };
}

void MqConsumerTransport::Invoke(CallRequest request, CallCallback done) {
  if (shut_down_) {
    return done(CallResult::Error(CallStatus::kNotExecuted, "consumer-agent is shutting down"));
  }
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(request.deadline - Clock::now());
  if (left.count() <= 0) {
    return done(CallResult::Error(CallStatus::kTimeout, "deadline passed before sending"));
  }
  std::string payload;
  EncodeMqCall(request, &payload);
  bridge::CallOptions options;
  options.timeout = std::min<std::chrono::milliseconds>(left, std::chrono::hours(24));
  options.method = request.method;
  client_->Call(request.interface_name, payload, options,
                [done = std::move(done)](bridge::CallResult r) {
                  CallResult result;
                  switch (r.error) {
                    case CallError::kNone:
                      if (!DecodeMqResult(r.payload, &result)) {
                        result = CallResult::Error(CallStatus::kProviderError,
                                                   "malformed reply from provider-agent");
                      }
                      break;
                    case CallError::kNoResponders:
                      result = CallResult::Error(CallStatus::kNoProvider, r.payload);
                      break;
                    case CallError::kTimedOut:
                      result = CallResult::Error(CallStatus::kTimeout, r.payload);
                      break;
                    case CallError::kHandlerError:
                      result = CallResult::Error(CallStatus::kProviderError, r.payload);
                      break;
                    case CallError::kBrokerError:
                      result = CallResult::Error(CallStatus::kNotExecuted, r.payload);
                      break;
                  }
                  done(std::move(result));
                });
}

void MqConsumerTransport::UpdateEndpoints(const std::vector<ProviderEndpoint>& endpoints) {
  // Routing is by service name in the broker (its live responders are the providers); the
  // registry's view is kept only to describe it.
  endpoints_ = endpoints;
}

std::string MqConsumerTransport::Describe() const {
  std::string out;
  for (const ProviderEndpoint& e : endpoints_) {
    out += e.service + " " + e.address() + " weight=" + std::to_string(e.weight) + " via=mq\n";
  }
  out += "mq reply-queue=" + client_->reply_queue() +
         " pending=" + std::to_string(client_->pending()) + "\n";
  return out;
}

void MqConsumerTransport::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  client_->Shutdown();
}

namespace {
constexpr auto kFirstPause = std::chrono::milliseconds(100);
constexpr auto kLongestPause = std::chrono::seconds(2);
constexpr int kTimeoutsToPause = 2;
}  // namespace

// What the provider's answers say of it, and the pause it earned (the io thread only).
struct MqProviderTransport::Health {
  explicit Health(boost::asio::io_context& io) : resume(io) {}
  std::weak_ptr<bridge::RpcResponder> server;
  boost::asio::steady_timer resume;
  std::chrono::milliseconds pause = kFirstPause;
  int timeouts_in_a_row = 0;
  bool pausing = false;
  bool probing = false;  // resumed after a pause, one call at a time, until one succeeds
  AgentMetrics* metrics = nullptr;
  bool counted_paused = false;  // in metrics' paused threads, from a pause to full speed again

  void CountPaused(bool paused) {
    if (metrics == nullptr || paused == counted_paused) return;
    counted_paused = paused;
    metrics->ProviderPaused(paused);
  }

  void Succeeded() {
    timeouts_in_a_row = 0;
    if (!probing) return;
    // The provider is back: full speed, and the next trouble starts from the shortest pause.
    probing = false;
    pause = kFirstPause;
    CountPaused(false);
    if (auto s = server.lock()) s->Resume();
  }
  void TimedOut() {
    // While probing one timeout is enough: the provider has not come back.
    if (probing || ++timeouts_in_a_row >= kTimeoutsToPause) Pause();
  }
  // The provider looks down: take nothing for a while, then try again.
  void Pause() {
    auto s = server.lock();
    if (!s || pausing) return;
    pausing = true;
    CountPaused(true);
    s->Pause();
    resume.expires_after(pause);
    pause = std::min<std::chrono::milliseconds>(pause * 2, kLongestPause);
    resume.async_wait([this, weak = server](boost::system::error_code ec) {
      if (ec) return;
      pausing = false;
      probing = true;
      timeouts_in_a_row = 0;
      if (auto again = weak.lock()) again->Resume(1);  // one call tells if the provider is back
    });
  }
};

MqProviderTransport::MqProviderTransport(boost::asio::io_context& io, const MqOptions& options,
                                         std::string service, std::string identity)
    : io_(io), options_(options), service_(std::move(service)), identity_(std::move(identity)) {}

MqProviderTransport::~MqProviderTransport() {
  if (health_) health_->resume.cancel();
  if (server_) server_->Shutdown();
}

ProviderTransportFactory MqProviderTransport::Factory(MqOptions options, std::string service,
                                                      std::string identity) {
  return [options, service, identity](boost::asio::io_context& io, int) {
    return std::make_unique<MqProviderTransport>(io, options, service, identity);
  };
}

Status MqProviderTransport::Start(Invoker* local) {
  bridge::RpcServerOptions o;
  o.broker = options_.broker;
  o.service = service_;
  o.max_in_flight = options_.max_in_flight;
  o.reply_durability = options_.durability;
  o.on_connection = LinkCounter(options_.metrics);
  std::string interface_name = service_;
  health_ = std::make_shared<Health>(io_);
  health_->metrics = options_.metrics;
  server_ = bridge::CreateRpcResponder(
      io_, o, options_.nats,
      [local, interface_name, weak_health = std::weak_ptr<Health>(health_)](
          const bridge::RpcCall& call, bridge::RpcResponder::Respond respond) {
        CallRequest request;
        if (!DecodeMqCall(call.payload, &request)) {
          std::string out;
          EncodeMqResult(CallResult::Error(CallStatus::kBadRequest, "malformed MQ call"), &out);
          return respond(bridge::ReplyStatus::kOk, std::move(out));
        }
        request.interface_name = interface_name;
        request.method = call.method;
        // The requester's deadline, moved onto this host's steady clock.
        uint64_t now = bridge::UnixMicros();
        request.deadline = Clock::now() + std::chrono::microseconds(
                                              call.deadline_us > now ? call.deadline_us - now : 0);
        local->Invoke(std::move(request), [respond = std::move(respond), weak_health,
                                           id = call.request_id](CallResult result) {
          auto health = weak_health.lock();
          if (health && result.status == CallStatus::kNotExecuted) {
            // Never reached the provider: another provider-agent runs it, at once.
            if (auto s = health->server.lock()) {
              if (health->metrics) health->metrics->CallGivenBack();
              s->GiveBack(id);
              health->Pause();
              return;
            }
          }
          if (health) {
            if (result.status == CallStatus::kTimeout) {
              health->TimedOut();
            } else {
              health->Succeeded();
            }
          }
          std::string out;
          EncodeMqResult(result, &out);
          respond(bridge::ReplyStatus::kOk, std::move(out));
        });
      });
  health_->server = server_;
  server_->Start();
  return Status::OK();
}

std::string MqProviderTransport::address() const { return identity_; }

void MqProviderTransport::Drain() {
  if (server_) server_->Drain();
}

size_t MqProviderTransport::pending() const { return server_ ? server_->in_flight() : 0; }

}  // namespace meshq::agent
