// The audit chain (`meshq-broker --audit-key FILE`, docs/SECURITY.md "Tamper-evident audit"):
// every message the broker stores carries a keyed digest, HMAC-SHA256 over the digest of the
// message before it in its queue, the queue's name, its offset and its whole stored record, so a
// stored message changed, removed, reordered or inserted breaks the chain from there on even
// when the engine's block checksum is fixed up — unless the key is known. When the retention
// trims a queue the broker first records, under the key, the digest at the cut (the queue's
// chain anchor, metadata key "ca/<queue>"), so a verifier tells a trimmed prefix from a removed
// one. Pure functions and an immutable key: thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "meshq/status.h"
#include "stored_message.h"

typedef struct evp_mac_ctx_st EVP_MAC_CTX;

namespace meshq::bridge {

// The digest before a queue's first chained message.
inline const std::string kChainGenesis(kChainDigestSize, '\0');
inline constexpr size_t kMinAuditKeyBytes = 32;

// Where the broker keeps a queue's chain anchor.
std::string ChainAnchorKey(std::string_view queue);

// The digest of the stored message at `offset` is the chain's value there; the anchor at a
// trim point `offset` holds the digest of the message at offset - 1 (kChainGenesis when that
// one was not chained) and a MAC over both, so it cannot be made up without the key.
struct ChainAnchor {
  uint64_t offset = 0;
  std::string digest;  // kChainDigestSize bytes
  std::string mac;     // kChainDigestSize bytes
};
// Layout: u64 offset, digest, mac (72 bytes).
void EncodeChainAnchor(const ChainAnchor& anchor, std::string* out);
bool DecodeChainAnchor(std::string_view in, ChainAnchor* out);

class AuditKey {
 public:
  // Reads the key file: its whole content is the key, at least kMinAuditKeyBytes bytes
  // (e.g. `head -c 32 /dev/urandom > audit.key`). Refused when other users may read it
  // (mode & 077), as ssh refuses such a private key. InvalidArgument naming the file.
  static Status Load(const std::string& path, std::unique_ptr<AuditKey>* out);
  static Status FromBytes(std::string_view key, std::unique_ptr<AuditKey>* out);
  ~AuditKey();
  AuditKey(const AuditKey&) = delete;
  AuditKey& operator=(const AuditKey&) = delete;

  // The digest of `m` stored at queue/offset after a message whose digest is `prev`. m.digest
  // is not part of it (it is where the result goes); m.flags is, chained bit included.
  std::string Chain(std::string_view prev, std::string_view queue, uint64_t offset,
                    const StoredMessage& m) const;
  // The MAC of an anchor of `queue`.
  std::string AnchorMac(std::string_view queue, uint64_t offset, std::string_view digest) const;

 private:
  AuditKey(EVP_MAC_CTX* ctx, uint64_t id) : ctx_(ctx), id_(id) {}
  // Runs HMAC-SHA256 over the parts, in order.
  std::string Mac(std::initializer_list<std::string_view> parts) const;
  EVP_MAC_CTX* const ctx_;  // initialized with the key, never updated: copied per thread
  const uint64_t id_;       // unique per key of the process
};

}  // namespace meshq::bridge
