// BrokerConnection: one client connection of the broker. Owns its socket and buffers and is
// kept alive by its handler chain; everything it does runs on its io_context's one thread.
// Reads frames, answers them (pipelined, matched by request id), parks long-polls until their
// queue grows or their wait ends, and stops reading while too many answers are unsent.
#pragma once

#include <boost/asio.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker_core.h"
#include "meshq/bridge/frame.h"

namespace meshq::bridge {

class BrokerConnection : public std::enable_shared_from_this<BrokerConnection> {
 public:
  BrokerConnection(boost::asio::ip::tcp::socket socket, BrokerCore* core, ConnectionId id,
                   size_t max_outbound_bytes);
  void Start();

 private:
  // A FETCH or GROUP_FETCH waiting for its queue to grow.
  struct Wait {
    FrameType type;
    std::string queue;
    std::string group;
    uint64_t offset = 0;
    uint32_t max_count = 0;
    uint64_t member = 0;  // GROUP_FETCH's assigning member
    QueueWatch::Token token = 0;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };

  void DoRead();
  void ProcessInput();
  void Dispatch(const Frame& frame);
  void HandlePut(const Frame& frame);
  void HandleRead(const Frame& frame);
  void HandleGroupFetch(const Frame& frame);
  void HandleAck(const Frame& frame);
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

  boost::asio::ip::tcp::socket socket_;
  BrokerCore* const core_;
  const ConnectionId id_;
  const size_t max_outbound_;
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
};

}  // namespace meshq::bridge
