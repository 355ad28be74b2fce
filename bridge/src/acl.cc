// Acl: parsing the rules and matching identities and queue names against them.
#include "acl.h"

namespace meshq::bridge {
namespace {

constexpr std::string_view kIdentityVariable = "${identity}";

struct OpName {
  std::string_view name;
  AclOp op;
};
constexpr OpName kOps[] = {
    {"put", AclOp::kPut},     {"get", AclOp::kGet}, {"fetch", AclOp::kFetch},
    {"group", AclOp::kGroup}, {"ack", AclOp::kAck}, {"reply", AclOp::kReply},
};
constexpr uint8_t kAllOps = 0x3f;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Splits a line into whitespace-separated words.
std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsSpace(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !IsSpace(line[i])) ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

// Glob match of `name` against a flat pattern: -1 is `*`, anything else a literal byte.
// The classic backtracking-to-the-last-star walk: linear in practice, O(n*m) at worst, and
// names are at most 255 bytes.
bool GlobMatch(const std::vector<int>& pattern, std::string_view name) {
  size_t p = 0, n = 0;
  size_t star = SIZE_MAX, star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == -1) {
      star = p++;
      star_n = n;
    } else if (p < pattern.size() && pattern[p] == static_cast<unsigned char>(name[n])) {
      ++p;
      ++n;
    } else if (star != SIZE_MAX) {
      p = star + 1;
      n = ++star_n;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == -1) ++p;
  return p == pattern.size();
}

}  // namespace

std::string_view AclOpName(AclOp op) {
  for (const OpName& o : kOps) {
    if (o.op == op) return o.name;
  }
  return "?";
}

Status Acl::Parse(std::string_view text, Acl* out) {
  out->rules_.clear();
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    const std::vector<std::string_view> words = Words(line);
    if (words.empty()) continue;
    auto bad = [line_no](const std::string& why) {
      return Status::InvalidArgument("line " + std::to_string(line_no) + ": " + why);
    };
    if (words[0] != "allow") return bad("expected 'allow', found '" + std::string(words[0]) + "'");
    if (words.size() != 4) {
      return bad("expected 'allow IDENTITY OPS QUEUE' (4 words), found " +
                 std::to_string(words.size()));
    }
    Rule rule;
    // Identity pattern.
    if (words[1] == "-") {
      rule.anonymous = true;
    } else {
      if (words[1].find(kIdentityVariable) != std::string_view::npos) {
        return bad("${identity} is for the queue pattern, not the identity");
      }
      for (char c : words[1]) {
        if (c == '*') {
          rule.identity.push_back({Piece::kStar, {}});
        } else if (!rule.identity.empty() && rule.identity.back().kind == Piece::kLiteral) {
          rule.identity.back().text.push_back(c);
        } else {
          rule.identity.push_back({Piece::kLiteral, std::string(1, c)});
        }
      }
    }
    // Operations.
    std::string_view ops = words[2];
    while (true) {
      const size_t comma = ops.find(',');
      const std::string_view name = ops.substr(0, comma);
      if (name == "all") {
        rule.ops |= kAllOps;
      } else {
        bool found = false;
        for (const OpName& o : kOps) {
          if (o.name == name) {
            rule.ops |= static_cast<uint8_t>(o.op);
            found = true;
          }
        }
        if (!found) {
          return bad("unknown operation '" + std::string(name) +
                     "' (put, get, fetch, group, ack, reply, all)");
        }
      }
      if (comma == std::string_view::npos) break;
      ops = ops.substr(comma + 1);
    }
    // Queue pattern.
    std::string_view q = words[3];
    while (!q.empty()) {
      if (q.starts_with(kIdentityVariable)) {
        rule.queue.push_back({Piece::kIdentity, {}});
        rule.uses_identity = true;
        q.remove_prefix(kIdentityVariable.size());
        continue;
      }
      if (q.starts_with("${")) return bad("unknown variable in '" + std::string(words[3]) + "'");
      if (q[0] == '*') {
        rule.queue.push_back({Piece::kStar, {}});
      } else if (!rule.queue.empty() && rule.queue.back().kind == Piece::kLiteral) {
        rule.queue.back().text.push_back(q[0]);
      } else {
        rule.queue.push_back({Piece::kLiteral, std::string(1, q[0])});
      }
      q.remove_prefix(1);
    }
    out->rules_.push_back(std::move(rule));
  }
  return Status::OK();
}

bool Acl::Matches(const std::vector<Piece>& pattern, std::string_view identity,
                  std::string_view name) {
  std::vector<int> flat;
  flat.reserve(name.size() + 8);
  for (const Piece& p : pattern) {
    if (p.kind == Piece::kStar) {
      flat.push_back(-1);
      continue;
    }
    // The identity is substituted as literal bytes: a '*' in it matches only a '*'.
    const std::string_view text = p.kind == Piece::kIdentity ? identity : std::string_view(p.text);
    for (char c : text) flat.push_back(static_cast<unsigned char>(c));
  }
  return GlobMatch(flat, name);
}

bool Acl::Allows(std::string_view identity, AclOp op, std::string_view queue) const {
  for (const Rule& r : rules_) {
    if (!(r.ops & static_cast<uint8_t>(op))) continue;
    if (identity.empty()) {
      if (!r.anonymous || r.uses_identity) continue;
    } else if (r.anonymous || !Matches(r.identity, {}, identity)) {
      continue;
    }
    if (Matches(r.queue, identity, queue)) return true;
  }
  return false;
}

}  // namespace meshq::bridge
