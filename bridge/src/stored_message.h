// The broker's envelope around each message it stores in the engine: a 9-byte prefix
// [u64 dedupe_id][u8 flags] before the payload, so deliveries can carry the id and dedupe state
// can be rebuilt. Clients never see the envelope; GET/FETCH strip it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "meshq/coding.h"

namespace meshq::bridge {

inline constexpr size_t kEnvelopeSize = 9;

inline void EncodeStoredMessage(uint64_t dedupe_id, uint8_t flags, std::string_view payload,
                                std::string* out) {
  out->resize(kEnvelopeSize);
  EncodeFixed64(out->data(), dedupe_id);
  (*out)[8] = static_cast<char>(flags);
  out->append(payload);
}

// False when `stored` is shorter than the envelope (not written by a broker).
inline bool DecodeStoredMessage(std::string_view stored, uint64_t* dedupe_id, uint8_t* flags,
                                std::string_view* payload) {
  if (stored.size() < kEnvelopeSize) return false;
  *dedupe_id = DecodeFixed64(stored.data());
  *flags = static_cast<uint8_t>(stored[8]);
  *payload = stored.substr(kEnvelopeSize);
  return true;
}

}  // namespace meshq::bridge
