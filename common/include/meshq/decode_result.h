// DecodeResult: the outcome of every pure wire decoder (broker frames, Dubbo frames, hessian2
// values, agent frames): a value plus the bytes it used, "need more bytes", or an error.
#pragma once

#include <cstddef>
#include <utility>

#include "meshq/status.h"

namespace meshq {

enum class DecodeState : unsigned char {
  kOk = 0,        // `value` is complete; `consumed` bytes of the input were used.
  kNeedMore = 1,  // the input is a valid prefix; call again with more bytes appended.
  kError = 2,     // the input can never become valid; `error` says why (drop the connection).
};

// Decoders are pure functions over a byte buffer: they never keep state between calls, so a
// caller retries from the same buffer start after appending bytes. Values may hold string_views
// into the input; those stay valid only while the caller's buffer is unchanged. A decoder whose
// callers act on the kind of error says which Status code marks which.
template <typename T>
struct DecodeResult {
  DecodeState state = DecodeState::kNeedMore;
  T value{};
  std::size_t consumed = 0;
  Status error;  // set only when state == kError

  bool ok() const { return state == DecodeState::kOk; }
  bool need_more() const { return state == DecodeState::kNeedMore; }
  bool failed() const { return state == DecodeState::kError; }

  static DecodeResult Ok(T v, std::size_t used) {
    DecodeResult r;
    r.state = DecodeState::kOk;
    r.value = std::move(v);
    r.consumed = used;
    return r;
  }
  static DecodeResult NeedMore() { return DecodeResult(); }
  static DecodeResult Error(Status s) {
    DecodeResult r;
    r.state = DecodeState::kError;
    r.error = std::move(s);
    return r;
  }
};

}  // namespace meshq
