// CommandArgs: the tiny argument parser of the `meshq` subcommands — positional arguments,
// boolean flags, and `--name VALUE` options, all from lists the subcommand declares.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace meshq::cli {

struct CommandArgs {
  std::vector<std::string> positional;
  std::set<std::string> flags;
  std::map<std::string, std::string> options;

  // False on an unknown `--` argument or an option without its value.
  bool Parse(const std::vector<std::string>& args, const std::set<std::string>& known_flags,
             const std::set<std::string>& known_options) {
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (a.rfind("--", 0) != 0) {
        positional.push_back(a);
      } else if (known_flags.count(a)) {
        flags.insert(a);
      } else if (known_options.count(a) && i + 1 < args.size()) {
        options[a] = args[++i];
      } else {
        return false;
      }
    }
    return true;
  }

  // Parses option `name` as a decimal number into *value (left unchanged when absent). False
  // when present but not a number.
  bool Number(const std::string& name, uint64_t* value) const {
    auto it = options.find(name);
    if (it == options.end()) return true;
    const std::string& s = it->second;
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
    *value = std::stoull(s);
    return true;
  }
};

}  // namespace meshq::cli
