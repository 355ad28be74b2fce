// Acl: the broker's access-control list (`meshq-broker --acl FILE`, docs/SECURITY.md "Access
// control"): which identity may do which operation on which queues. Parsing and evaluation are
// pure functions over text and names, so both are unit-tested and fuzzed without a broker.
// Default deny: an operation is allowed only when some rule grants it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "meshq/status.h"

namespace meshq::bridge {

// What a rule grants, one bit each. A PUT with the REPLY flag is kReply, without it kPut; an
// ACK (also with RELEASE) is kAck; GROUP_FETCH is kGroup. GET and FETCH also cover the
// broker's chain anchors (ANCHOR) of the queue.
enum class AclOp : uint8_t {
  kPut = 1 << 0,
  kGet = 1 << 1,
  kFetch = 1 << 2,
  kGroup = 1 << 3,
  kAck = 1 << 4,
  kReply = 1 << 5,
};
// The op's name in the file ("put", "get", ...).
std::string_view AclOpName(AclOp op);

class Acl {
 public:
  // Parses the rules of an ACL file. InvalidArgument("line N: ...") naming the first bad line.
  // Lines: `allow IDENTITY OPS QUEUE`, blank, or `#` comments. IDENTITY: a pattern of the
  // connection's identity (`*` any run of characters), `-` for a connection without one.
  // OPS: a comma-separated list of put, get, fetch, group, ack, reply, or `all`. QUEUE: a
  // pattern of the queue name in which `${identity}` stands for the connection's identity
  // (matched literally: its characters are never wildcards; a rule using it never matches an
  // anonymous connection).
  static Status Parse(std::string_view text, Acl* out);

  // True when a rule lets `identity` ("" = anonymous) do `op` on `queue`.
  bool Allows(std::string_view identity, AclOp op, std::string_view queue) const;

  size_t rules() const { return rules_.size(); }

 private:
  // A pattern as pieces: literal text, `*`, or the connection's identity.
  struct Piece {
    enum Kind : uint8_t { kLiteral, kStar, kIdentity } kind;
    std::string text;
  };
  struct Rule {
    bool anonymous = false;  // IDENTITY was `-`
    std::vector<Piece> identity;
    uint8_t ops = 0;
    std::vector<Piece> queue;
    bool uses_identity = false;
  };
  static bool Matches(const std::vector<Piece>& pattern, std::string_view identity,
                      std::string_view name);

  std::vector<Rule> rules_;
};

}  // namespace meshq::bridge
