// Chain heads: what `meshq audit --verify --heads FILE` keeps between audits. A chain proves
// nothing about messages removed from its end, nor about a whole store put back to an older
// copy: only someone who saw the chain longer can tell. So the auditor keeps, in a file of its
// own (off the broker's host), where each queue's chain ended and its digest there; the next
// audit requires every chain to extend the head it recorded (docs/SECURITY.md).
//
// File format, one line per queue: `<queue> <offset> <digest as 64 hex digits>`, sorted by
// queue; '#' starts a comment line. Parsing is a pure function.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "meshq/status.h"

namespace meshq::bridge {

struct ChainHead {
  uint64_t offset = 0;  // the queue's size when recorded
  std::string digest;   // the chain's value there (kChainDigestSize bytes)
};
using ChainHeads = std::map<std::string, ChainHead, std::less<>>;

// InvalidArgument naming the line on a malformed file; an empty text is no heads.
Status ParseChainHeads(std::string_view text, ChainHeads* out);
std::string FormatChainHeads(const ChainHeads& heads);

// Reads FILE (NotFound when it does not exist: the first audit) / replaces it atomically.
Status LoadChainHeads(const std::string& path, ChainHeads* out);
Status SaveChainHeads(const std::string& path, const ChainHeads& heads);

}  // namespace meshq::bridge
