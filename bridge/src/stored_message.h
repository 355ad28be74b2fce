// The broker's envelope around each message it stores in the engine, so deliveries can carry
// the dedupe id, dedupe state can be rebuilt, the audit can say who stored each message and a
// keyed chain can show that nothing stored was changed (docs/broker-protocol.md, "Stored
// message envelope"). Clients never write the envelope: the broker builds it from the PUT and
// from the connection, so its identity cannot be set by a client. GET/FETCH strip it.
//
//   u64 dedupe_id, u8 flags,
//   [flags & kStoredFlagAttributed] str16 identity   (the storing connection's identity)
//   [flags & kStoredFlagChained]    32-byte digest   (audit chain, audit_chain.h)
//   payload
//
// A record of the first format (9-byte prefix, flags 0 or kMessageFlagReply) is the same thing
// without the optional fields. A flag bit this broker does not know means a newer format:
// such a record is refused (Corruption), never misread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "meshq/bridge/broker_protocol.h"
#include "meshq/coding.h"

namespace meshq::bridge {

inline constexpr size_t kEnvelopeSize = 9;  // the fixed prefix
inline constexpr uint8_t kStoredFlagAttributed = 0x02;
inline constexpr uint8_t kStoredFlagChained = 0x04;
inline constexpr uint8_t kStoredFlagsKnown =
    kMessageFlagReply | kStoredFlagAttributed | kStoredFlagChained;
inline constexpr size_t kChainDigestSize = 32;

struct StoredMessage {
  uint64_t dedupe_id = 0;
  uint8_t flags = 0;          // kMessageFlagReply and the kStoredFlag* bits
  std::string_view identity;  // with kStoredFlagAttributed
  std::string_view digest;    // kChainDigestSize bytes with kStoredFlagChained
  std::string_view payload;
};

// Writes the record of `m`; the optional fields are written as m.flags says (identity at most
// 65535 bytes, digest exactly kChainDigestSize).
inline void EncodeStoredMessage(const StoredMessage& m, std::string* out) {
  out->resize(kEnvelopeSize);
  EncodeFixed64(out->data(), m.dedupe_id);
  (*out)[8] = static_cast<char>(m.flags);
  if (m.flags & kStoredFlagAttributed) {
    char len[2];
    EncodeFixed16(len, static_cast<uint16_t>(m.identity.size()));
    out->append(len, 2);
    out->append(m.identity);
  }
  if (m.flags & kStoredFlagChained) out->append(m.digest);
  out->append(m.payload);
}

inline void EncodeStoredMessage(uint64_t dedupe_id, uint8_t flags, std::string_view payload,
                                std::string* out) {
  EncodeStoredMessage({dedupe_id, flags, {}, {}, payload}, out);
}

// False when `stored` is not a whole record of a format this broker knows. Views point into
// `stored`.
inline bool DecodeStoredMessage(std::string_view stored, StoredMessage* m) {
  if (stored.size() < kEnvelopeSize) return false;
  m->dedupe_id = DecodeFixed64(stored.data());
  m->flags = static_cast<uint8_t>(stored[8]);
  if (m->flags & ~kStoredFlagsKnown) return false;
  stored.remove_prefix(kEnvelopeSize);
  m->identity = {};
  m->digest = {};
  if (m->flags & kStoredFlagAttributed) {
    if (stored.size() < 2) return false;
    const uint16_t len = DecodeFixed16(stored.data());
    if (stored.size() < 2u + len) return false;
    m->identity = stored.substr(2, len);
    stored.remove_prefix(2u + len);
  }
  if (m->flags & kStoredFlagChained) {
    if (stored.size() < kChainDigestSize) return false;
    m->digest = stored.substr(0, kChainDigestSize);
    stored.remove_prefix(kChainDigestSize);
  }
  m->payload = stored;
  return true;
}

// What a client is told of a stored message: its dedupe id, its public flags
// (kMessageFlagReply) and its payload.
inline bool DecodeStoredMessage(std::string_view stored, uint64_t* dedupe_id, uint8_t* flags,
                                std::string_view* payload) {
  StoredMessage m;
  if (!DecodeStoredMessage(stored, &m)) return false;
  *dedupe_id = m.dedupe_id;
  *flags = m.flags & kMessageFlagReply;
  *payload = m.payload;
  return true;
}

}  // namespace meshq::bridge
