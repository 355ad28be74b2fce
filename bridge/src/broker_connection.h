// BrokerConnection: one client connection of the broker. Owns its socket and buffers and is
// kept alive by its handler chain; everything it does runs on its io_context's one thread.
// Reads frames, answers them (pipelined, matched by request id), parks long-polls until their
// queue grows or their wait ends, and stops reading while too many answers are unsent. Enforces
// the per-client limits of BrokerOptions (buffered input, parked fetches, frame and idle timeouts).
// Over TLS it handshakes first, within the frame timeout, and reads no frame before the client
// is verified; its identity() is then the client certificate's (meshq/tls.h, PeerIdentity).
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "acl.h"
#include "broker_core.h"
#include "meshq/bridge/broker.h"
#include "meshq/bridge/frame.h"
#include "meshq/tls_stream.h"

namespace meshq::bridge {

// What the connections of one broker share (from any io thread): its options, the input memory
// they hold beyond one read chunk each, and a count of each limit's refusals.
struct ConnectionLimits {
  explicit ConnectionLimits(const BrokerOptions& o) : options(o) {}
  const BrokerOptions& options;
  const Acl* acl = nullptr;  // null: every operation allowed
  // TLS: every connection handshakes with this context first. Null: plaintext.
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::atomic<uint64_t> tls_handshakes{0};          // completed (the client verified, if asked)
  std::atomic<uint64_t> tls_handshake_failures{0};  // closed: the handshake failed
  std::atomic<uint64_t> tls_handshake_timeouts{0};  // closed: not done within frame_timeout
  std::atomic<size_t> buffered{0};
  std::atomic<uint64_t> refused_memory{0};  // closed: max_buffered_bytes reached
  std::atomic<uint64_t> refused_parked{0};  // fetches answered Busy: max_parked_fetches reached
  std::atomic<uint64_t> frame_timeouts{0};  // closed: a frame not finished within frame_timeout
  std::atomic<uint64_t> idle_timeouts{0};   // closed: no frame within idle_timeout
};

class BrokerConnection : public std::enable_shared_from_this<BrokerConnection> {
 public:
  BrokerConnection(boost::asio::ip::tcp::socket socket, BrokerCore* core, ConnectionId id,
                   ConnectionLimits* limits);
  ~BrokerConnection();
  void Start();

  // Who the client is: its certificate's identity under mutual TLS (meshq/tls.h, PeerIdentity),
  // "" (anonymous) over plaintext or TLS without client certificates. Fixed before the first
  // frame is dispatched; read it on the connection's thread (every Handle* runs there).
  const std::string& identity() const { return identity_; }

 private:
  // A FETCH or GROUP_FETCH waiting for its queue to grow.
  struct Wait {
    FrameType type;
    std::string queue;
    std::string group;
    uint64_t offset = 0;
    uint32_t max_count = 0;
    uint64_t member = 0;  // GROUP_FETCH's assigning member
    uint8_t flags = 0;    // the request frame's (kReadFlagStored)
    QueueWatch::Token token = 0;
    std::unique_ptr<boost::asio::steady_timer> timer;
    std::chrono::steady_clock::time_point parked;  // when it started waiting
  };

  // TLS: the handshake, bounded by frame_timeout; then the frames.
  void Handshake();
  // Starts the frames: the idle deadline and the first read.
  void StartFrames();
  void DoRead();
  // Makes room for the next read; false (the connection answered and closing) when that would
  // take the broker's buffered input beyond max_buffered_bytes.
  bool ReserveInput();
  // Re-arms the deadline timer; the deadlines themselves are checked lazily in OnDeadline.
  void ArmDeadline(std::chrono::milliseconds after);
  void OnDeadline();
  void ProcessInput();
  void Dispatch(const Frame& frame);
  void HandlePut(const Frame& frame);
  void HandleRead(const Frame& frame);
  void HandleGroupFetch(const Frame& frame);
  void HandleAck(const Frame& frame);
  void HandleStats(const Frame& frame);
  void HandleAnchor(const Frame& frame);
  // False (and the request answered PermissionDenied, counted) when the ACL does not let this
  // connection do `op` on `queue`.
  bool Allowed(uint64_t request_id, AclOp op, std::string_view queue);
  // Answers a GET/FETCH/GROUP_FETCH now, or parks it for up to wait_ms.
  void Serve(uint64_t request_id, Wait wait, uint32_t wait_ms);
  // Tries to answer a parked wait; parks it again (re-registering its wake-up) when still empty.
  void ServeWait(uint64_t request_id, bool timed_out);
  // Runs the wait's read; true when it answered (data, error, or timed out).
  bool TryAnswer(uint64_t request_id, Wait& wait, bool timed_out);

  void Send(FrameType type, uint8_t status, uint64_t request_id, std::string_view body);
  void SendError(uint64_t request_id, uint8_t status, std::string_view message);
  void SendStatus(uint64_t request_id, const Status& s);
  void DoWrite();
  bool OverHighWater() const;
  void Close();

  TlsStream stream_;
  BrokerCore* const core_;
  const ConnectionId id_;
  ConnectionLimits* const limits_;
  // Who sends this connection's requests: its id and identity() (set by the handshake).
  Caller caller_;
  const BrokerOptions& options_;
  BrokerMetrics& metrics_;
  std::vector<char> in_;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  bool reading_ = false;
  std::string out_;      // answers waiting to be written
  std::string writing_;  // answers being written
  bool closed_ = false;
  bool close_after_write_ = false;
  std::unordered_map<uint64_t, Wait> waits_;
  std::string scratch_;
  // One timer for both timeouts: moved only when it fires, so the data path never touches it.
  boost::asio::steady_timer deadline_;
  std::chrono::steady_clock::time_point last_active_;  // last frame, or last wait answered
  std::chrono::steady_clock::time_point frame_start_;  // first byte of the unfinished frame
  // Arrival of the frames being processed, and the latency histograms of those among them
  // answered at once: observed when they are processed (ProcessInput).
  std::chrono::steady_clock::time_point arrived_;
  std::vector<Histogram*> answered_;
  bool partial_ = false;  // input holds part of a frame
  bool deadline_armed_ = false;
  bool closing_ = false;      // the next firing of the deadline closes
  bool handshaking_ = false;  // TLS handshake under way: the deadline ends it
  std::string identity_;
};

}  // namespace meshq::bridge
