// BrokerClient: an asynchronous, pipelined connection to a meshq-broker. Runs on the one thread
// of the io_context it is given (every callback runs there); requests may be issued from that
// thread only. It reconnects by itself after the connection is lost; requests that were pending
// then are failed with Unavailable (the caller decides whether to retry). Over TLS (an address
// with `tls`) each connection handshakes, checking the broker's certificate, before it counts
// as connected.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "meshq/bridge/broker_protocol.h"
#include "meshq/bridge/frame.h"
#include "meshq/status.h"
#include "meshq/tls.h"
#include "meshq/tls_stream.h"

namespace meshq::bridge {

struct BrokerAddress {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  // TLS to the broker (docs/SECURITY.md); null: plaintext. Made once (SetBrokerTls) and shared
  // by every client of the process that copies the address.
  std::shared_ptr<boost::asio::ssl::context> tls;
  // The name the broker's certificate must carry (meshq/tls.h, SetTlsPeerName); empty: host.
  std::string tls_server_name;
};
// Parses "host:port" (or ":port" / "port" for loopback) into out's host and port (its TLS
// fields stay). False on a malformed address.
bool ParseBrokerAddress(std::string_view text, BrokerAddress* out);
// Makes `address` TLS with `options` (its context and server name) when options.enabled();
// leaves it plaintext otherwise. The errors of MakeTlsClientContext.
Status SetBrokerTls(const TlsClientOptions& options, BrokerAddress* address);

// The answer to a PUT. `no_consumers`: refused because the group named with
// kPutFlagRequireConsumers had no live member (nothing was stored).
struct PutAnswer {
  bool no_consumers = false;
  std::vector<PutResult> results;  // views valid during the callback only
};

class BrokerClient : public std::enable_shared_from_this<BrokerClient> {
 public:
  using PutCallback = std::function<void(const Status&, const PutAnswer&)>;
  // The reply's views point into the client's receive buffer: valid during the callback only.
  using MessagesCallback = std::function<void(const Status&, const MessagesReply&)>;
  using AckCallback = std::function<void(const Status&, uint64_t committed)>;
  // Called with true after each (re)connect and false after each loss of the connection.
  using ConnectionCallback = std::function<void(bool connected)>;

  static std::shared_ptr<BrokerClient> Create(boost::asio::io_context& io, BrokerAddress address);
  ~BrokerClient();

  void SetConnectionCallback(ConnectionCallback cb) { on_connection_ = std::move(cb); }
  // Connects (and keeps reconnecting every `retry_delay` while the broker is unreachable).
  void Start(std::chrono::milliseconds retry_delay = std::chrono::milliseconds(50));
  // Closes the connection and fails pending requests with Closed; no reconnect afterwards.
  void Close();
  bool connected() const { return connected_; }
  // Why the last connection attempt failed or the last connection was lost (OK before any):
  // e.g. the TLS handshake's error.
  const Status& last_error() const { return last_error_; }

  // Requests issued while disconnected fail at once with Unavailable.
  void Put(std::string_view queue, const std::vector<PutMessage>& messages, uint8_t flags,
           std::string_view group, PutCallback done);
  // `flags`: kReadFlagStored for the stored records themselves (the audit's read).
  void Get(std::string_view queue, uint64_t offset, uint32_t max_count, MessagesCallback done,
           uint8_t flags = 0);
  // Long-poll: answers when `queue` holds a message at `offset`, or empty after wait_ms.
  void Fetch(std::string_view queue, uint64_t offset, uint32_t max_count, uint32_t wait_ms,
             MessagesCallback done, uint8_t flags = 0);
  // With a non-zero `member`, the broker assigns what it hands out to that member (see
  // GroupFetchRequest::member).
  void GroupFetch(std::string_view queue, std::string_view group, uint32_t max_count,
                  uint32_t wait_ms, MessagesCallback done, uint64_t member = 0);
  // Without `done` (and without sync) the broker is asked not to answer (kAckFlagNoReply).
  void Ack(std::string_view queue, std::string_view group, const std::vector<uint64_t>& offsets,
           bool sync, AckCallback done);
  // Hands `offsets` back to the group unprocessed (kAckFlagRelease); no answer unless it fails.
  void Release(std::string_view queue, std::string_view group,
               const std::vector<uint64_t>& offsets);

  // A round trip to the broker that touches no queue (the network + framing floor).
  void Ping(std::function<void(const Status&)> done);
  // The broker's and its store's counters (STATS). The broker takes them off its io threads.
  void Stats(std::function<void(const Status&, const BrokerStats&)> done);
  // The queue's audit chain anchor (ANCHOR): the answer's body, a found byte (0/1) and the
  // anchor's bytes (docs/broker-protocol.md).
  void Anchor(std::string_view queue, std::function<void(const Status&, std::string_view)> done);

  // Bytes queued for sending, not yet written (for callers that bound their own backlog).
  size_t unsent_bytes() const { return out_.size() + writing_.size(); }

 private:
  BrokerClient(boost::asio::io_context& io, BrokerAddress address);

  using FrameHandler = std::function<void(const Status&, const Frame&)>;
  void Connect();
  void OnConnected();
  // Records why, then tries again after retry_delay.
  void ScheduleReconnect(Status why);
  void OnConnectionLost(const boost::system::error_code& ec);
  void Send(FrameType type, uint8_t flags, const std::string& body, FrameHandler handler);
  void DoWrite();
  void DoRead();
  void FailPending(const Status& s);

  boost::asio::io_context& io_;
  const BrokerAddress address_;
  // A new one per connection, captured by its pending operations: a TLS stream must outlive
  // them (meshq/tls_stream.h).
  std::shared_ptr<TlsStream> stream_;
  Status last_error_;
  boost::asio::steady_timer retry_timer_;
  std::chrono::milliseconds retry_delay_{50};
  ConnectionCallback on_connection_;
  bool started_ = false;
  bool closed_ = false;
  bool connected_ = false;
  uint64_t generation_ = 0;  // bumped per connection, so stale handlers can tell
  uint64_t next_request_id_ = 1;
  std::unordered_map<uint64_t, FrameHandler> pending_;
  std::string out_;
  std::string writing_;
  std::vector<char> in_;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  std::string body_;  // scratch for encoding
};

// Turns an error frame into a Status (status byte -> code, body -> message).
Status StatusFromErrorFrame(const Frame& frame);

}  // namespace meshq::bridge
