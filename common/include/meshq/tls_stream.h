// TlsStream: one TCP connection that speaks TLS or plaintext, chosen when it is made, with the
// members Asio's stream algorithms use (async_read_some, async_write_some, get_executor), so
// asio::async_write works on it and one read/write path serves both. Plaintext costs one
// predictable branch per operation over the bare socket.
//
// A TLS stream must outlive its pending operations (Asio's ssl operations refer to it until
// their handlers run): own it from the object the handlers keep alive, or from a shared_ptr the
// handlers capture. One read and one write may be pending at once, on one thread.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <memory>
#include <utility>

namespace meshq {

class TlsStream {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  using executor_type = Socket::executor_type;

  // Plaintext over `socket`.
  explicit TlsStream(Socket socket) : plain_(std::move(socket)) {}
  // TLS over `socket` with `context` (held by the stream): async_handshake comes first.
  TlsStream(Socket socket, std::shared_ptr<boost::asio::ssl::context> context)
      : plain_(socket.get_executor()),
        context_(std::move(context)),
        tls_(std::make_unique<boost::asio::ssl::stream<Socket>>(std::move(socket), *context_)) {}

  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  bool tls() const { return tls_ != nullptr; }
  // The TCP socket beneath: for its options, endpoints, shutdown and close.
  Socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
  // The OpenSSL connection (for SetTlsPeerName, PeerIdentity); nullptr when plaintext.
  SSL* native_handle() { return tls_ ? tls_->native_handle() : nullptr; }
  executor_type get_executor() { return plain_.get_executor(); }
  // TLS hands over one record per read: true when records already received wait behind the one
  // a read just returned (another read then completes at once). A reader that takes them all
  // before answering keeps the answers to pipelined requests in one write, as with plaintext.
  bool HasBufferedInput() { return tls_ && SSL_has_pending(tls_->native_handle()) == 1; }

  // TLS only: the handshake, as client or server; `handler(error_code)`.
  template <typename Handler>
  void async_handshake(boost::asio::ssl::stream_base::handshake_type type, Handler&& handler) {
    tls_->async_handshake(type, std::forward<Handler>(handler));
  }

  template <typename MutableBuffers, typename Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_read_some(buffers, std::forward<Handler>(handler));
    } else {
      plain_.async_read_some(buffers, std::forward<Handler>(handler));
    }
  }

  template <typename ConstBuffers, typename Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_write_some(buffers, std::forward<Handler>(handler));
    } else {
      plain_.async_write_some(buffers, std::forward<Handler>(handler));
    }
  }

  // Shuts the TCP connection down both ways and closes it (no TLS close_notify: a meshq peer
  // takes the end of the connection as the end of its session either way). Pending operations
  // complete with an error.
  void Close() {
    boost::system::error_code ec;
    socket().shutdown(Socket::shutdown_both, ec);
    socket().close(ec);
  }

 private:
  Socket plain_;  // the connection when plaintext; an unopened socket (the executor) when TLS
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::unique_ptr<boost::asio::ssl::stream<Socket>> tls_;
};

}  // namespace meshq
