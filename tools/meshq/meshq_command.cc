// meshq: dispatch of the operator tool's subcommands.
#include "commands.h"
#include "meshq/flags.h"

namespace meshq::cli {

namespace {

void Usage(std::ostream& os) {
  os << "usage: meshq COMMAND ...\n"
        "  inspect DIR [--queues]        queues, messages, blocks, bytes and fill per segment\n"
        "  verify DIR                    check every block and the index; exit 0 clean, 1 "
        "problems, 2 cannot open\n"
        "  dump DIR QUEUE [--from N] [--count M] [--hex]\n"
        "                                print a queue's messages: offset, length, bytes\n"
        "  audit ...                     pair stored RPC requests with replies (bridge)\n"
        "  top HOST:PORT... [--once]     live rates, latencies and gauges from servers' /metrics\n"
        "Every command is read-only.\n";
}

}  // namespace

int RunMeshq(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << UsageError("meshq", "a command is required");
    return kExitUsage;
  }
  const std::string& cmd = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "inspect") return RunInspect(rest, out, err);
  if (cmd == "verify") return RunVerify(rest, out, err);
  if (cmd == "dump") return RunDump(rest, out, err);
  if (cmd == "audit") return RunAuditCommand(rest, out, err);
  if (cmd == "top") return RunTop(rest, out, err);
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    Usage(out);
    return kExitOk;
  }
  err << UsageError("meshq", "unknown command '" + cmd + "'");
  return kExitUsage;
}

}  // namespace meshq::cli
