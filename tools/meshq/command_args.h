// ParseCommandArgs: how every `meshq` subcommand reads its arguments — a FlagSet (meshq/flags.h)
// with the subcommand's flags and its positional arguments, answering --help and bad usage alike.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "commands.h"
#include "meshq/flags.h"

namespace meshq::cli {

// Parses `args` with `flags` (which collects positional arguments) and checks that exactly
// `positional_count` were given. On --help writes the usage to `out` and yields kExitOk; on bad
// usage writes the reason in the one error style (meshq/flags.h's UsageError) to `err` and yields
// kExitUsage; nullopt when the subcommand should run.
inline std::optional<int> ParseCommandArgs(FlagSet& flags, const std::vector<std::string>& args,
                                           const std::vector<std::string>& positional,
                                           size_t positional_count, std::ostream& out,
                                           std::ostream& err) {
  if (auto exit_code = flags.ParseArguments(args, out, err)) return *exit_code;
  if (positional.size() != positional_count) {
    err << UsageError(flags.program(), positional.size() < positional_count ? "missing arguments"
                                                                            : "too many arguments");
    return kExitUsage;
  }
  return std::nullopt;
}

}  // namespace meshq::cli
