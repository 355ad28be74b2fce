// HttpConnection: one application connection to the consumer-agent. Parses pipelined HTTP/1.1
// requests, turns each POST form into a call on the thread's transport, and writes the answers
// back in request order, batching every answer that is ready into one write.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "form.h"
#include "http_request.h"
#include "meshq/agent/http_options.h"
#include "meshq/agent/transport.h"
#include "stream_buffers.h"

namespace meshq::agent {

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  using Options = HttpOptions;

  // `inflight` (owned by the thread's worker, same thread) counts calls awaiting an answer, so
  // a stopping agent can let them finish.
  HttpConnection(boost::asio::ip::tcp::socket socket, ConsumerTransport* transport,
                 const Options& options, size_t* inflight);
  void Start();

 private:
  struct Slot {
    bool ready = false;
    int status = 0;
    std::string body;
    bool keep_alive = true;
  };

  void Read();
  void HandleInput();
  // Handles one parsed request; false when the connection must stop reading (close after).
  bool Dispatch(const http::Request& req);
  void MaybeContinue(std::string_view partial);
  void Answer(uint64_t seq, int status, std::string body);
  void Flush();

  boost::asio::ip::tcp::socket socket_;
  ConsumerTransport* transport_;
  size_t* inflight_;
  const Options& options_;
  http::Request request_;  // reused for every request of the connection
  form::Form form_;
  ReadBuffer in_;
  bool reading_ = false;
  bool read_closed_ = false;
  bool continue_sent_ = false;  // "100 Continue" already sent for the request being received  //
                                // EOF, error or a request asked us to close
  WriteBatch writes_;
  std::deque<Slot> slots_;  // answers in request order; front is sequence number first_seq_
  uint64_t first_seq_ = 0;
};

}  // namespace meshq::agent
