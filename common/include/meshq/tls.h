// TLS for meshq's connections (OpenSSL 3 through Boost.Asio's ssl streams): the contexts of
// servers and clients made from PEM files, the name a client checks on its server, and the
// identity of a verified peer. docs/SECURITY.md describes the setup; meshq/tls_stream.h is the
// stream that is TLS or plaintext.
//
// Every context made here: TLS 1.2 at least (1.3 is negotiated whenever the peer has it, as
// OpenSSL picks the highest version both sides allow), no renegotiation, no compression,
// OpenSSL's default cipher suites for its security level.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "meshq/status.h"

namespace meshq {

class FlagSet;

struct TlsServerOptions {
  // PEM: the server's certificate, optionally followed by the intermediates of its chain.
  // Empty: the server speaks plaintext.
  std::string cert_file;
  std::string key_file;  // PEM: the private key of cert_file (unencrypted)
  // PEM: the CA certificates that sign clients' certificates. Set: mutual TLS, every client
  // must present a certificate that verifies against them, or the handshake fails. Empty: no
  // client certificate is asked for (every client is anonymous).
  std::string client_ca_file;

  bool enabled() const { return !cert_file.empty(); }
};

struct TlsClientOptions {
  // PEM: the CA certificates the server's certificate must verify against. Empty: the
  // system's default trust store.
  std::string ca_file;
  // PEM: this client's certificate and key, presented to a server that asks (mutual TLS);
  // both or neither.
  std::string cert_file;
  std::string key_file;
  // The name the server's certificate must carry (see SetTlsPeerName). Empty: the host the
  // client connects to.
  std::string server_name;
  // Whether TLS is on: a client with any of these set speaks TLS.
  bool enabled() const {
    return !ca_file.empty() || !cert_file.empty() || !key_file.empty() || !server_name.empty();
  }
};

// Makes the context of a TLS server. InvalidArgument, naming the file, when a file is missing
// or unreadable, holds no PEM certificate (or key), when the certificate is expired or not yet
// valid, or when the key does not match the certificate. Also when cert_file or key_file is
// given without the other. The context is thread-safe to make streams from.
Status MakeTlsServerContext(const TlsServerOptions& options,
                            std::shared_ptr<boost::asio::ssl::context>* out);
// Makes the context of a TLS client: it verifies the server's certificate chain against
// ca_file (the handshake fails otherwise) and presents cert_file when given. Errors as above.
// Per connection, the server's name is checked too: see SetTlsPeerName.
Status MakeTlsClientContext(const TlsClientOptions& options,
                            std::shared_ptr<boost::asio::ssl::context>* out);

// On a client's connection, before its handshake: the handshake then fails unless the server's
// certificate carries `name`. An IP address (v4 or v6) must be one of the certificate's IP
// subjectAltNames; any other name must match a DNS subjectAltName (a "*." wildcard covers one
// leftmost label), or the subject's commonName when the certificate has no DNS name. A DNS name
// is also sent as the server name indication (SNI). InvalidArgument for an empty name.
Status SetTlsPeerName(SSL* ssl, std::string_view name);

// The identity of the peer of a completed handshake, the one rule every meshq server uses to
// name its clients (docs/SECURITY.md cites it):
//   - "" (anonymous) unless the peer presented a certificate and it verified (a plaintext
//     connection, a server that asks no certificate, or a failed verification are anonymous);
//   - else the certificate's first URI subjectAltName, if it has one
//     (e.g. "spiffe://example.org/svc/pay");
//   - else its first DNS subjectAltName;
//   - else its subject's commonName (the last one when there are several).
// A name holding a byte outside printable ASCII (0x20..0x7e), or empty, is not an identity:
// the peer is then anonymous, so an identity can always be printed and matched as it is.
std::string PeerIdentity(SSL* ssl);

// Declares the flags of a TLS client (for the connections a program makes):
//   --<prefix>ca FILE, --<prefix>cert FILE, --<prefix>key FILE, --<prefix>server-name NAME
// with `prefix` e.g. "tls-" or "broker-tls-". `peer` names the server in the help ("broker").
void DeclareTlsClientFlags(FlagSet* flags, TlsClientOptions* options, std::string_view prefix,
                           std::string_view peer);
// Declares --<prefix>cert FILE, --<prefix>key FILE, --<prefix>client-ca FILE for a server.
void DeclareTlsServerFlags(FlagSet* flags, TlsServerOptions* options, std::string_view prefix);

}  // namespace meshq
