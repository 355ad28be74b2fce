// Acl: the rules' format (docs/SECURITY.md, "Access control") and what they allow.
#include "acl.h"

#include <gtest/gtest.h>

namespace meshq::bridge {
namespace {

Acl MustParse(std::string_view text) {
  Acl acl;
  Status s = Acl::Parse(text, &acl);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return acl;
}

std::string ParseError(std::string_view text) {
  Acl acl;
  Status s = Acl::Parse(text, &acl);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  return std::string(s.message());
}

TEST(AclTest, DeniesEverythingNoRuleGrants) {
  Acl acl = MustParse("# nothing granted\n\n");
  EXPECT_EQ(acl.rules(), 0u);
  EXPECT_FALSE(acl.Allows("client-a", AclOp::kGet, "q"));
  EXPECT_FALSE(acl.Allows("", AclOp::kPut, "q"));
}

TEST(AclTest, ARequesterReadsOnlyItsOwnReplyQueue) {
  Acl acl = MustParse(
      "allow client-* put rpc.req.hash       # callers of the hash service\n"
      "allow client-* group,ack rpc.rep.${identity}\n"
      "allow provider-hash group,ack rpc.req.hash\n"
      "allow provider-hash reply rpc.rep.*\n");
  EXPECT_TRUE(acl.Allows("client-a", AclOp::kPut, "rpc.req.hash"));
  EXPECT_TRUE(acl.Allows("client-a", AclOp::kGroup, "rpc.rep.client-a"));
  EXPECT_TRUE(acl.Allows("client-a", AclOp::kAck, "rpc.rep.client-a"));
  EXPECT_FALSE(acl.Allows("client-a", AclOp::kGroup, "rpc.rep.client-b"));
  EXPECT_FALSE(acl.Allows("client-a", AclOp::kAck, "rpc.rep.client-b"));
  EXPECT_FALSE(acl.Allows("client-a", AclOp::kGet, "rpc.rep.client-a")) << "get not granted";
  EXPECT_FALSE(acl.Allows("client-a", AclOp::kReply, "rpc.rep.client-b"));
  EXPECT_FALSE(acl.Allows("client-a", AclOp::kGroup, "rpc.req.hash"));
  EXPECT_TRUE(acl.Allows("provider-hash", AclOp::kReply, "rpc.rep.client-b"));
  EXPECT_TRUE(acl.Allows("provider-hash", AclOp::kGroup, "rpc.req.hash"));
  EXPECT_FALSE(acl.Allows("provider-hash", AclOp::kPut, "rpc.rep.client-b")) << "put != reply";
  EXPECT_FALSE(acl.Allows("provider-hash", AclOp::kGroup, "rpc.req.other"));
  EXPECT_FALSE(acl.Allows("", AclOp::kPut, "rpc.req.hash")) << "anonymous is no client-*";
}

TEST(AclTest, TheIdentityInAQueuePatternIsLiteral) {
  Acl acl = MustParse("allow * get,fetch inbox.${identity}.*\n");
  EXPECT_TRUE(acl.Allows("bob", AclOp::kGet, "inbox.bob.1"));
  EXPECT_TRUE(acl.Allows("bob", AclOp::kFetch, "inbox.bob."));
  EXPECT_FALSE(acl.Allows("bob", AclOp::kGet, "inbox.bobby.1"));
  // An identity with a '*' in it matches only itself, never as a wildcard.
  EXPECT_TRUE(acl.Allows("b*", AclOp::kGet, "inbox.b*.x"));
  EXPECT_FALSE(acl.Allows("b*", AclOp::kGet, "inbox.bob.x"));
  // A rule with ${identity} never matches an anonymous connection.
  EXPECT_FALSE(acl.Allows("", AclOp::kGet, "inbox..1"));
}

TEST(AclTest, AnonymousIsNamedByADash) {
  Acl acl = MustParse("allow - all public.*\nallow * all *\n");
  EXPECT_TRUE(acl.Allows("", AclOp::kReply, "public.x"));
  EXPECT_FALSE(acl.Allows("", AclOp::kGet, "private"));
  EXPECT_TRUE(acl.Allows("anyone", AclOp::kGet, "private"));
}

TEST(AclTest, GlobsBacktrack) {
  Acl acl = MustParse("allow a*b*c get x*y*z\n");
  EXPECT_TRUE(acl.Allows("abc", AclOp::kGet, "xyz"));
  EXPECT_TRUE(acl.Allows("aXbYbZc", AclOp::kGet, "xxyyzzyz"));
  EXPECT_FALSE(acl.Allows("abcd", AclOp::kGet, "xyz"));
  EXPECT_FALSE(acl.Allows("abc", AclOp::kGet, "xyzq"));
  EXPECT_TRUE(MustParse("allow * get *").Allows("x", AclOp::kGet, ""));
}

TEST(AclTest, ABadLineIsNamedByItsNumber) {
  EXPECT_EQ(ParseError("allow a get q\n\ndeny a get q\n"),
            "line 3: expected 'allow', found 'deny'");
  EXPECT_EQ(ParseError("# c\nallow a get\n"),
            "line 2: expected 'allow IDENTITY OPS QUEUE' (4 words), found 3");
  EXPECT_EQ(ParseError("allow a get,steal q"),
            "line 1: unknown operation 'steal' (put, get, fetch, group, ack, reply, all)");
  EXPECT_EQ(ParseError("allow a get, q"),
            "line 1: unknown operation '' (put, get, fetch, group, ack, reply, all)");
  EXPECT_EQ(ParseError("allow a get q.${who}"), "line 1: unknown variable in 'q.${who}'");
  EXPECT_EQ(ParseError("allow ${identity} get q"),
            "line 1: ${identity} is for the queue pattern, not the identity");
}

}  // namespace
}  // namespace meshq::bridge
