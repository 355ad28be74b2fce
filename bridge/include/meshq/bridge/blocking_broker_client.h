// BlockingBrokerClient: BrokerClient behind blocking calls, with its own io thread. For tools
// (audit), tests and simple producers; servers should use BrokerClient on their own io_context.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "meshq/bridge/broker_client.h"

namespace meshq::bridge {

// A message with its payload copied out of the receive buffer.
struct OwnedMessage {
  uint64_t offset = 0;
  uint64_t dedupe_id = 0;
  uint8_t flags = 0;
  std::string payload;
};

struct PutStatus {
  PutOutcome outcome = PutOutcome::kStored;
  uint64_t offset = 0;
};

class BlockingBrokerClient {
 public:
  explicit BlockingBrokerClient(BrokerAddress address);
  ~BlockingBrokerClient();
  BlockingBrokerClient(const BlockingBrokerClient&) = delete;
  BlockingBrokerClient& operator=(const BlockingBrokerClient&) = delete;

  // Waits up to `timeout` for the connection; TimedOut when the broker cannot be reached (with
  // the last attempt's error, e.g. a TLS handshake's).
  Status Connect(std::chrono::milliseconds timeout);

  // Messages are (dedupe id, payload). Unavailable("no consumers") when refused for
  // kPutFlagRequireConsumers.
  Status Put(std::string_view queue, const std::vector<std::pair<uint64_t, std::string>>& messages,
             uint8_t flags = 0, std::vector<PutStatus>* results = nullptr,
             std::string_view group = {});
  Status Get(std::string_view queue, uint64_t offset, uint32_t max_count,
             std::vector<OwnedMessage>* out, uint64_t* queue_size = nullptr, uint8_t flags = 0);
  Status Fetch(std::string_view queue, uint64_t offset, uint32_t max_count, uint32_t wait_ms,
               std::vector<OwnedMessage>* out);
  // `member`: see GroupFetchRequest::member.
  Status GroupFetch(std::string_view queue, std::string_view group, uint32_t max_count,
                    uint32_t wait_ms, std::vector<OwnedMessage>* out, uint64_t member = 0);
  // Hands unacked offsets back unprocessed (kAckFlagRelease); answered only when it fails, so
  // this returns once the request is written.
  Status Release(std::string_view queue, std::string_view group,
                 const std::vector<uint64_t>& offsets);
  Status Ack(std::string_view queue, std::string_view group, const std::vector<uint64_t>& offsets,
             bool sync, uint64_t* committed = nullptr);
  Status Stats(BrokerStats* out);
  // See BrokerClient::Anchor: *body is the answer's body.
  Status Anchor(std::string_view queue, std::string* body);
  // Drops the connection (the broker hands this client's unacked group messages back).
  void Close();

 private:
  // Runs `op` on the io thread and waits for it to call its completion.
  Status RunOnIo(std::function<void(std::function<void(Status)>)> op);

  boost::asio::io_context io_;
  std::shared_ptr<BrokerClient> client_;
  std::thread thread_;
};

}  // namespace meshq::bridge
