// Fuzz target: the broker's ACL parser and evaluator (bridge/src/acl.h). Never a crash; parsing
// is deterministic; a parsed ACL answers the same question the same way, and the input's own
// words, used as identity and queue, never crash the matcher.
#include <cstdint>
#include <string>
#include <string_view>

#include "acl.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshq::bridge;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  Acl acl, again;
  const bool ok = Acl::Parse(in, &acl).ok();
  FUZZ_CHECK(Acl::Parse(in, &again).ok() == ok);
  if (!ok) return 0;
  FUZZ_CHECK(acl.rules() == again.rules());
  // Identities and queue names drawn from the input itself (the likeliest to match a rule).
  const std::string_view identity = in.substr(0, std::min<size_t>(in.size(), 24));
  const std::string_view queue = in.substr(in.size() / 2, 64);
  for (AclOp op :
       {AclOp::kPut, AclOp::kGet, AclOp::kFetch, AclOp::kGroup, AclOp::kAck, AclOp::kReply}) {
    for (std::string_view id : {std::string_view(), identity, std::string_view("client-a")}) {
      const bool allowed = acl.Allows(id, op, queue);
      FUZZ_CHECK(again.Allows(id, op, queue) == allowed);
      (void)acl.Allows(id, op, "rpc.rep." + std::string(id));
    }
  }
  return 0;
}
