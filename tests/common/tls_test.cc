// meshq/tls.h: the errors a server or client gets for its files, and, over handshakes between
// two contexts in memory (an OpenSSL BIO pair, no sockets), peer verification, the server name
// check, the TLS versions and the peer identity rule. Certificates come from tools/certs.sh.
#include "meshq/tls.h"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <fstream>
#include <memory>
#include <string>

#include "meshq/flags.h"
#include "test_pki.h"

namespace meshq {
namespace {

using Context = std::shared_ptr<boost::asio::ssl::context>;

class TlsTest : public ::meshq::testing::TestPkiSuite {
 protected:
  Context Server(const std::string& client_ca = "") {
    Context ctx;
    Status s = MakeTlsServerContext({pki_.cert("broker"), pki_.key("broker"), client_ca}, &ctx);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return ctx;
  }
  // A client trusting ca.pem, presenting certificate `name` (none when empty).
  Context Client(const std::string& name) {
    Context ctx;
    TlsClientOptions o;
    o.ca_file = pki_.cert("ca");
    if (!name.empty()) {
      o.cert_file = pki_.cert(name);
      o.key_file = pki_.key(name);
    }
    // Refused by MakeTlsClientContext itself: loaded as it is, to be presented.
    if (name == "expired") return testing::ClientPresenting(pki_, name);
    Status s = MakeTlsClientContext(o, &ctx);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return ctx;
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = pki_.dir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
};

// What a handshake between two contexts came to.
struct Handshake {
  bool ok = false;
  std::string identity;  // PeerIdentity on the server's side: who the client is
  std::string version;   // the negotiated protocol
};

// Runs a handshake in memory; `peer_name`: what the client expects of the server's certificate
// (nothing when empty); `client_max`: the client's highest version (0: OpenSSL's).
Handshake Shake(const Context& server, const Context& client, const std::string& peer_name,
                int client_max = 0) {
  SSL* s = SSL_new(server->native_handle());
  SSL* c = SSL_new(client->native_handle());
  BIO* sb = nullptr;
  BIO* cb = nullptr;
  BIO_new_bio_pair(&sb, 0, &cb, 0);
  SSL_set_bio(s, sb, sb);
  SSL_set_bio(c, cb, cb);
  SSL_set_accept_state(s);
  SSL_set_connect_state(c);
  if (!peer_name.empty()) {
    EXPECT_TRUE(SetTlsPeerName(c, peer_name).ok());
  }
  if (client_max != 0) SSL_set_max_proto_version(c, client_max);
  Handshake result;
  bool client_done = false, server_done = false, failed = false;
  for (int round = 0; round < 32 && !failed && !(client_done && server_done); ++round) {
    for (auto [ssl, done] : {std::pair{c, &client_done}, std::pair{s, &server_done}}) {
      if (*done) continue;
      const int rc = SSL_do_handshake(ssl);
      if (rc == 1) {
        *done = true;
      } else {
        const int e = SSL_get_error(ssl, rc);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) failed = true;
      }
    }
  }
  ERR_clear_error();
  result.ok = client_done && server_done && !failed;
  if (result.ok) {
    result.identity = PeerIdentity(s);
    result.version = SSL_get_version(s);
  }
  SSL_free(s);
  SSL_free(c);
  return result;
}

TEST_F(TlsTest, MissingFilesAreNamed) {
  Context ctx;
  const std::string missing = pki_.dir() + "/nope.pem";
  Status s = MakeTlsServerContext({missing, pki_.key("broker"), ""}, &ctx);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("certificate file " + missing + ": No such file"), std::string::npos)
      << s.ToString();
  s = MakeTlsServerContext({pki_.cert("broker"), missing, ""}, &ctx);
  EXPECT_NE(s.message().find("key file " + missing + ": No such file"), std::string::npos)
      << s.ToString();
  s = MakeTlsServerContext({pki_.cert("broker"), pki_.key("broker"), missing}, &ctx);
  EXPECT_NE(s.message().find("CA file " + missing + ": No such file"), std::string::npos)
      << s.ToString();
  TlsClientOptions o;
  o.ca_file = missing;
  s = MakeTlsClientContext(o, &ctx);
  EXPECT_NE(s.message().find("CA file " + missing), std::string::npos) << s.ToString();
  EXPECT_EQ(ctx, nullptr);
}

TEST_F(TlsTest, FilesThatAreNotPemAreNamed) {
  Context ctx;
  const std::string junk = Write("junk.pem", "not a certificate\n");
  Status s = MakeTlsServerContext({junk, pki_.key("broker"), ""}, &ctx);
  EXPECT_NE(s.message().find("certificate file " + junk + ": not a PEM certificate"),
            std::string::npos)
      << s.ToString();
  s = MakeTlsServerContext({pki_.cert("broker"), junk, ""}, &ctx);
  EXPECT_NE(s.message().find("key file " + junk + ": not an unencrypted PEM private key"),
            std::string::npos)
      << s.ToString();
  s = MakeTlsServerContext({pki_.cert("broker"), pki_.key("broker"), junk}, &ctx);
  EXPECT_NE(s.message().find("CA file " + junk + ": no PEM certificate"), std::string::npos)
      << s.ToString();
  // A certificate where the key belongs is not a key either.
  s = MakeTlsServerContext({pki_.cert("broker"), pki_.cert("broker"), ""}, &ctx);
  EXPECT_NE(s.message().find("key file " + pki_.cert("broker")), std::string::npos) << s.ToString();
}

TEST_F(TlsTest, KeyOfAnotherCertificateIsRefused) {
  Context ctx;
  Status s = MakeTlsServerContext({pki_.cert("broker"), pki_.key("alice"), ""}, &ctx);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("key file " + pki_.key("alice") +
                             ": does not match certificate file " + pki_.cert("broker")),
            std::string::npos)
      << s.ToString();
  TlsClientOptions o;
  o.ca_file = pki_.cert("ca");
  o.cert_file = pki_.cert("alice");
  o.key_file = pki_.key("bob");
  EXPECT_NE(MakeTlsClientContext(o, &ctx).message().find("does not match"), std::string::npos);
}

TEST_F(TlsTest, ExpiredCertificateIsRefusedAtStart) {
  Context ctx;
  Status s = MakeTlsServerContext({pki_.cert("expired"), pki_.key("expired"), ""}, &ctx);
  EXPECT_NE(s.message().find("certificate file " + pki_.cert("expired") + ": expired on Jan 31"),
            std::string::npos)
      << s.ToString();
}

TEST_F(TlsTest, CertificateAndKeyComeTogether) {
  Context ctx;
  Status s = MakeTlsServerContext({pki_.cert("broker"), "", ""}, &ctx);
  EXPECT_NE(s.message().find("given without a key file"), std::string::npos) << s.ToString();
  TlsClientOptions o;
  o.key_file = pki_.key("alice");
  s = MakeTlsClientContext(o, &ctx);
  EXPECT_NE(s.message().find("given without a certificate file"), std::string::npos)
      << s.ToString();
  EXPECT_TRUE(MakeTlsServerContext({}, &ctx).IsInvalidArgument());
}

TEST_F(TlsTest, MutualTlsNamesTheClientByItsCommonName) {
  Context server = Server(pki_.cert("ca"));
  Handshake alice = Shake(server, Client("alice"), "localhost");
  ASSERT_TRUE(alice.ok);
  EXPECT_EQ(alice.identity, "alice");
  EXPECT_EQ(alice.version, "TLSv1.3");
  EXPECT_EQ(Shake(server, Client("bob"), "127.0.0.1").identity, "bob");
}

TEST_F(TlsTest, IdentityIsTheFirstUriThenTheFirstDnsName) {
  Context server = Server(pki_.cert("ca"));
  // uri-client has a URI and a DNS name and CN echo; dns-client a DNS name and CN dns-client.
  EXPECT_EQ(Shake(server, Client("uri-client"), "").identity, "spiffe://meshq.test/svc/echo");
  EXPECT_EQ(Shake(server, Client("dns-client"), "").identity, "dns-client.meshq.test");
}

TEST_F(TlsTest, ClientsWithoutAValidCertificateAreRefused) {
  Context server = Server(pki_.cert("ca"));
  EXPECT_FALSE(Shake(server, Client(""), "localhost").ok);
  EXPECT_FALSE(Shake(server, Client("foreign"), "localhost").ok);
  EXPECT_FALSE(Shake(server, Client("expired"), "localhost").ok);
  EXPECT_TRUE(Shake(server, Client("alice"), "localhost").ok);
}

TEST_F(TlsTest, WithoutClientCaEveryClientIsAnonymous) {
  Context server = Server();
  Handshake h = Shake(server, Client("alice"), "localhost");
  ASSERT_TRUE(h.ok);
  EXPECT_EQ(h.identity, "");
  EXPECT_TRUE(Shake(server, Client(""), "localhost").ok);
  EXPECT_EQ(PeerIdentity(nullptr), "");
}

TEST_F(TlsTest, ClientChecksTheServersCertificate) {
  Context server = Server();
  EXPECT_TRUE(Shake(server, Client(""), "localhost").ok);
  EXPECT_TRUE(Shake(server, Client(""), "127.0.0.1").ok);
  EXPECT_FALSE(Shake(server, Client(""), "broker.example.org").ok);
  EXPECT_FALSE(Shake(server, Client(""), "10.1.2.3").ok);
  EXPECT_FALSE(Shake(server, Client(""), "::1").ok);
  // A server whose certificate another CA signed.
  Context foreign;
  ASSERT_TRUE(MakeTlsServerContext({pki_.cert("foreign"), pki_.key("foreign"), ""}, &foreign).ok());
  EXPECT_FALSE(Shake(foreign, Client(""), "").ok);
  EXPECT_TRUE(SetTlsPeerName(nullptr, "").IsInvalidArgument());
}

TEST_F(TlsTest, Tls12IsTheOldestVersion) {
  Context server = Server(pki_.cert("ca"));
  Handshake h = Shake(server, Client("alice"), "localhost", TLS1_2_VERSION);
  ASSERT_TRUE(h.ok);
  EXPECT_EQ(h.version, "TLSv1.2");
  EXPECT_EQ(h.identity, "alice");
  // The client may offer 1.1 (its own minimum lowered); the server refuses it.
  Context old = Client("alice");
  SSL_CTX_set_min_proto_version(old->native_handle(), TLS1_VERSION);
  SSL_CTX_set_security_level(old->native_handle(), 0);
  EXPECT_FALSE(Shake(server, old, "localhost", TLS1_1_VERSION).ok);
}

TEST_F(TlsTest, ClientFlags) {
  TlsClientOptions o;
  FlagSet flags("t", "test");
  DeclareTlsClientFlags(&flags, &o, "broker-tls-", "broker");
  EXPECT_FALSE(o.enabled());
  ASSERT_TRUE(flags
                  .Parse({"--broker-tls-ca", "a", "--broker-tls-cert=b", "--broker-tls-key", "c",
                          "--broker-tls-server-name", "d"})
                  .ok());
  EXPECT_EQ(o.ca_file, "a");
  EXPECT_EQ(o.cert_file, "b");
  EXPECT_EQ(o.key_file, "c");
  EXPECT_EQ(o.server_name, "d");
  EXPECT_TRUE(o.enabled());
  TlsServerOptions so;
  FlagSet server_flags("t", "test");
  DeclareTlsServerFlags(&server_flags, &so, "tls-");
  ASSERT_TRUE(
      server_flags.Parse({"--tls-cert", "a", "--tls-key", "b", "--tls-client-ca", "c"}).ok());
  EXPECT_EQ(so.client_ca_file, "c");
  EXPECT_TRUE(so.enabled());
}

}  // namespace
}  // namespace meshq
