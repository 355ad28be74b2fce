// The `meshq` operator tool's subcommands. Each takes its arguments (without the program and
// subcommand names), writes its report to `out` and diagnostics to `err`, and returns the
// process exit code: 0 success/clean, 1 problems found, 2 bad usage or the store cannot be opened.
// Every subcommand is read-only: it never modifies the store (top reads only servers' /metrics).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace meshq::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitProblems = 1;
inline constexpr int kExitUsage = 2;

// meshq inspect DIR [--queues]: queues, messages, blocks, bytes and fill ratio per segment.
int RunInspect(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// meshq verify DIR: every indexed block's checksum and header against the index, the index's
// structure, and a scan past the checkpointed tails.
int RunVerify(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// meshq dump DIR QUEUE [--from N] [--count M] [--hex]: the messages of one queue.
int RunDump(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// meshq top HOST:PORT... [--interval S] [--once]: a live view of servers' /metrics.
int RunTop(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// meshq audit ...: the bridge's request/reply audit (when the bridge is built).
int RunAuditCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// Dispatches args[0] to a subcommand; prints usage for anything else.
int RunMeshq(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace meshq::cli
