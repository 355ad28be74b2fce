// The audit chain's digests (OpenSSL 3 EVP_MAC, HMAC-SHA256) and its anchors.
#include "audit_chain.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <sstream>

#include "meshq/coding.h"

namespace meshq::bridge {
namespace {
// Domain separation: a chain digest is never a valid anchor MAC and the other way round.
constexpr char kChainTag = 'C';
constexpr char kAnchorTag = 'A';

std::atomic<uint64_t> g_key_ids{0};

// Each thread's own copy of the last key's context: restarting it (EVP_MAC_init without a key)
// costs a fifth of duplicating the keyed context per digest, which is on every stored message's
// path. Keyed by the key's id, never its address (a new key may take a freed one's place).
struct ThreadMac {
  uint64_t key_id = 0;
  EVP_MAC_CTX* ctx = nullptr;
  ~ThreadMac() { EVP_MAC_CTX_free(ctx); }
};
thread_local ThreadMac t_mac;

std::string_view Fixed16(char* buf, size_t v) {
  EncodeFixed16(buf, static_cast<uint16_t>(v));
  return {buf, 2};
}
std::string_view Fixed32(char* buf, size_t v) {
  EncodeFixed32(buf, static_cast<uint32_t>(v));
  return {buf, 4};
}
std::string_view Fixed64(char* buf, uint64_t v) {
  EncodeFixed64(buf, v);
  return {buf, 8};
}
}  // namespace

std::string ChainAnchorKey(std::string_view queue) { return "ca/" + std::string(queue); }

void EncodeChainAnchor(const ChainAnchor& a, std::string* out) {
  char buf[8];
  out->assign(Fixed64(buf, a.offset));
  out->append(a.digest);
  out->append(a.mac);
}

bool DecodeChainAnchor(std::string_view in, ChainAnchor* out) {
  if (in.size() != 8 + 2 * kChainDigestSize) return false;
  out->offset = DecodeFixed64(in.data());
  out->digest = std::string(in.substr(8, kChainDigestSize));
  out->mac = std::string(in.substr(8 + kChainDigestSize));
  return true;
}

Status AuditKey::Load(const std::string& path, std::unique_ptr<AuditKey>* out) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return Status::InvalidArgument("audit key " + path + ": cannot be read");
  }
  if (st.st_mode & 077) {
    return Status::InvalidArgument("audit key " + path +
                                   ": readable by other users (chmod 600 it)");
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  if (!in) return Status::InvalidArgument("audit key " + path + ": cannot be read");
  Status s = FromBytes(content.str(), out);
  if (!s.ok())
    return Status::InvalidArgument("audit key " + path + ": " + std::string(s.message()));
  return s;
}

Status AuditKey::FromBytes(std::string_view key, std::unique_ptr<AuditKey>* out) {
  if (key.size() < kMinAuditKeyBytes) {
    return Status::InvalidArgument("shorter than " + std::to_string(kMinAuditKeyBytes) + " bytes");
  }
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) return Status::IOError("OpenSSL has no HMAC");
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);  // the context holds its own reference
  if (ctx == nullptr) return Status::IOError("EVP_MAC_CTX_new failed");
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) !=
      1) {
    EVP_MAC_CTX_free(ctx);
    return Status::IOError("HMAC-SHA256 init failed");
  }
  out->reset(new AuditKey(ctx, ++g_key_ids));
  return Status::OK();
}

AuditKey::~AuditKey() { EVP_MAC_CTX_free(ctx_); }

std::string AuditKey::Mac(std::initializer_list<std::string_view> parts) const {
  if (t_mac.key_id != id_) {
    EVP_MAC_CTX_free(t_mac.ctx);
    t_mac.ctx = EVP_MAC_CTX_dup(ctx_);  // the keyed context, never updated itself
    t_mac.key_id = t_mac.ctx ? id_ : 0;
  }
  EVP_MAC_CTX* ctx = t_mac.ctx;
  std::string out(kChainDigestSize, '\0');
  size_t len = 0;
  // Without a key, init starts a new HMAC with the context's own key.
  bool ok = ctx != nullptr && EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1;
  for (std::string_view p : parts) {
    ok = ok && EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(p.data()), p.size()) == 1;
  }
  ok =
      ok && EVP_MAC_final(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, out.size()) == 1;
  // Out of memory inside OpenSSL: a digest that verifies nothing rather than a wrong one.
  if (!ok || len != kChainDigestSize) out.assign(kChainDigestSize, '\0');
  return out;
}

std::string AuditKey::Chain(std::string_view prev, std::string_view queue, uint64_t offset,
                            const StoredMessage& m) const {
  char qlen[2], off[8], id[8], ilen[2], plen[4];
  const char tag = kChainTag;
  const char flags = static_cast<char>(m.flags);
  return Mac({std::string_view(&tag, 1), prev, Fixed16(qlen, queue.size()), queue,
              Fixed64(off, offset), Fixed64(id, m.dedupe_id), std::string_view(&flags, 1),
              Fixed16(ilen, m.identity.size()), m.identity, Fixed32(plen, m.payload.size()),
              m.payload});
}

std::string AuditKey::AnchorMac(std::string_view queue, uint64_t offset,
                                std::string_view digest) const {
  char qlen[2], off[8];
  const char tag = kAnchorTag;
  return Mac({std::string_view(&tag, 1), Fixed16(qlen, queue.size()), queue, Fixed64(off, offset),
              digest});
}

}  // namespace meshq::bridge
