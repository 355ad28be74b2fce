// TLS contexts from PEM files, with one clear error per thing that can be wrong with a file;
// the peer name check and the peer identity rule of meshq/tls.h.
#include "meshq/tls.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <cerrno>
#include <cstring>

#include "meshq/flags.h"

namespace meshq {
namespace ssl = boost::asio::ssl;

namespace {

// The reason of OpenSSL's most recent error (and clears its queue), e.g. "no start line".
std::string OpenSslReason() {
  unsigned long last = 0;
  while (unsigned long e = ERR_get_error()) last = e;
  if (last == 0) return "unknown OpenSSL error";
  const char* reason = ERR_reason_error_string(last);
  return reason ? reason : "OpenSSL error " + std::to_string(last);
}

Status FileError(std::string_view what, const std::string& path, std::string_view why) {
  return Status::InvalidArgument("tls: " + std::string(what) + " " + path + ": " +
                                 std::string(why));
}

// A missing or unreadable file said as such, before OpenSSL's less telling "system lib".
Status CheckReadable(std::string_view what, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileError(what, path, std::strerror(errno));
  ::close(fd);
  return Status::OK();
}

std::string TimeText(const ASN1_TIME* t) {
  BIO* bio = BIO_new(BIO_s_mem());
  std::string text;
  if (bio && ASN1_TIME_print(bio, t)) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    text.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  return text;
}

// Loads the certificate chain and its key into `ctx`, checking validity dates and that the
// two belong together.
Status LoadIdentity(SSL_CTX* ctx, const std::string& cert_file, const std::string& key_file) {
  if (cert_file.empty() != key_file.empty()) {
    return Status::InvalidArgument(
        cert_file.empty() ? "tls: key file " + key_file + " given without a certificate file"
                          : "tls: certificate file " + cert_file + " given without a key file");
  }
  if (cert_file.empty()) return Status::OK();
  Status s = CheckReadable("certificate file", cert_file);
  if (!s.ok()) return s;
  s = CheckReadable("key file", key_file);
  if (!s.ok()) return s;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return FileError("certificate file", cert_file,
                     "not a PEM certificate (" + OpenSslReason() + ")");
  }
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    return FileError("certificate file", cert_file,
                     "expired on " + TimeText(X509_get0_notAfter(cert)));
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return FileError("certificate file", cert_file,
                     "not valid before " + TimeText(X509_get0_notBefore(cert)));
  }
  BIO* bio = BIO_new_file(key_file.c_str(), "r");
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (key == nullptr) {
    return FileError("key file", key_file,
                     "not an unencrypted PEM private key (" + OpenSslReason() + ")");
  }
  if (X509_check_private_key(cert, key) != 1) {
    EVP_PKEY_free(key);
    ERR_clear_error();
    return FileError("key file", key_file, "does not match certificate file " + cert_file);
  }
  const int used = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  if (used != 1) return FileError("key file", key_file, OpenSslReason());
  return Status::OK();
}

Status LoadTrust(SSL_CTX* ctx, const std::string& ca_file) {
  Status s = CheckReadable("CA file", ca_file);
  if (!s.ok()) return s;
  if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
    return FileError("CA file", ca_file, "no PEM certificate (" + OpenSslReason() + ")");
  }
  return Status::OK();
}

// What every meshq context shares (see the header).
Status NewContext(ssl::context::method method, std::shared_ptr<ssl::context>* out) {
  try {
    auto ctx = std::make_shared<ssl::context>(method);
    SSL_CTX* native = ctx->native_handle();
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
      return Status::InvalidArgument("tls: cannot require TLS 1.2: " + OpenSslReason());
    }
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    // Records received together are taken into OpenSSL's buffer at once, where
    // TlsStream::HasBufferedInput sees them.
    SSL_CTX_set_read_ahead(native, 1);
    *out = std::move(ctx);
    return Status::OK();
  } catch (const boost::system::system_error& e) {
    return Status::InvalidArgument(std::string("tls: cannot make a context: ") + e.what());
  }
}

bool Printable(const unsigned char* data, int length) {
  if (data == nullptr || length <= 0) return false;
  for (int i = 0; i < length; ++i) {
    if (data[i] < 0x20 || data[i] > 0x7e) return false;
  }
  return true;
}

std::string NameText(const ASN1_STRING* s) {
  const unsigned char* data = ASN1_STRING_get0_data(s);
  const int length = ASN1_STRING_length(s);
  if (!Printable(data, length)) return "";
  return std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(length));
}

// The first subjectAltName of `type` (GEN_URI, GEN_DNS); false when there is none.
bool FirstAltName(GENERAL_NAMES* names, int type, std::string* out) {
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type != type) continue;
    *out = NameText(type == GEN_URI ? n->d.uniformResourceIdentifier : n->d.dNSName);
    return true;
  }
  return false;
}

}  // namespace

Status MakeTlsServerContext(const TlsServerOptions& options, std::shared_ptr<ssl::context>* out) {
  if (options.cert_file.empty()) {
    return Status::InvalidArgument("tls: a server needs a certificate file and its key file");
  }
  std::shared_ptr<ssl::context> ctx;
  Status s = NewContext(ssl::context::tls_server, &ctx);
  if (!s.ok()) return s;
  SSL_CTX* native = ctx->native_handle();
  s = LoadIdentity(native, options.cert_file, options.key_file);
  if (!s.ok()) return s;
  // Resumed sessions of verified clients need an id context (OpenSSL refuses them otherwise).
  static constexpr unsigned char kSessionContext[] = "meshq";
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof(kSessionContext) - 1);
  if (options.client_ca_file.empty()) {
    SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
  } else {
    s = LoadTrust(native, options.client_ca_file);
    if (!s.ok()) return s;
    // The CAs named in the certificate request, so a client with several picks the right one.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(native, names);
    }
    ERR_clear_error();
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  *out = std::move(ctx);
  return Status::OK();
}

Status MakeTlsClientContext(const TlsClientOptions& options, std::shared_ptr<ssl::context>* out) {
  std::shared_ptr<ssl::context> ctx;
  Status s = NewContext(ssl::context::tls_client, &ctx);
  if (!s.ok()) return s;
  SSL_CTX* native = ctx->native_handle();
  s = LoadIdentity(native, options.cert_file, options.key_file);
  if (!s.ok()) return s;
  if (options.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(native) != 1) {
      return Status::InvalidArgument("tls: no CA file given and no system trust store: " +
                                     OpenSslReason());
    }
  } else {
    s = LoadTrust(native, options.ca_file);
    if (!s.ok()) return s;
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  *out = std::move(ctx);
  return Status::OK();
}

Status SetTlsPeerName(SSL* ssl, std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("tls: empty server name");
  const std::string text(name);
  boost::system::error_code ec;
  boost::asio::ip::make_address(text, ec);
  if (!ec) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), text.c_str()) != 1) {
      return Status::InvalidArgument("tls: bad server address " + text + ": " + OpenSslReason());
    }
    return Status::OK();
  }
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (SSL_set1_host(ssl, text.c_str()) != 1 || SSL_set_tlsext_host_name(ssl, text.c_str()) != 1) {
    return Status::InvalidArgument("tls: bad server name " + text + ": " + OpenSslReason());
  }
  return Status::OK();
}

std::string PeerIdentity(SSL* ssl) {
  if (ssl == nullptr) return "";
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return "";
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  std::string identity;
  const bool found =
      FirstAltName(names, GEN_URI, &identity) || FirstAltName(names, GEN_DNS, &identity);
  GENERAL_NAMES_free(names);
  if (found) return identity;
  const X509_NAME* subject = X509_get_subject_name(cert);
  int last = -1;
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) last = i;
  if (last < 0) return "";
  return NameText(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, last)));
}

void DeclareTlsClientFlags(FlagSet* flags, TlsClientOptions* options, std::string_view prefix,
                           std::string_view peer) {
  const std::string p(prefix), who(peer);
  flags->String(p + "ca", &options->ca_file,
                "TLS to the " + who + ": CA certificates (PEM) its certificate must verify\n" +
                    "against (any --" + p + "* flag turns TLS on; without this one: the\n" +
                    "system's trust store)",
                "FILE");
  flags->String(p + "cert", &options->cert_file,
                "TLS to the " + who + ": this client's certificate (PEM), for mutual TLS", "FILE");
  flags->String(p + "key", &options->key_file,
                "TLS to the " + who + ": the private key (PEM) of --" + p + "cert", "FILE");
  flags->String(p + "server-name", &options->server_name,
                "TLS to the " + who + ": the name its certificate must carry (default: the\n" +
                    "host connected to)",
                "NAME");
}

void DeclareTlsServerFlags(FlagSet* flags, TlsServerOptions* options, std::string_view prefix) {
  const std::string p(prefix);
  flags->String(p + "cert", &options->cert_file,
                "serve TLS with this certificate (PEM, chain after it); needs --" + p + "key",
                "FILE");
  flags->String(p + "key", &options->key_file, "the private key (PEM) of --" + p + "cert", "FILE");
  flags->String(p + "client-ca", &options->client_ca_file,
                "mutual TLS: clients must present a certificate signed by these CAs (PEM)", "FILE");
}

}  // namespace meshq
