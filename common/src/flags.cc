// FlagSet: declaration, the usage text, and parsing on Boost.Program_options (which splits the
// command line into flags and values; each flag's own setter checks type and range).
#include "meshq/flags.h"

#include <boost/make_shared.hpp>
#include <boost/program_options.hpp>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <utility>

namespace meshq {

std::string UsageError(std::string_view program, std::string_view message) {
  return std::string(program) + ": " + std::string(message) + "; see --help\n";
}

FlagSet::FlagSet(std::string program, std::string summary, std::string synopsis)
    : program_(std::move(program)), summary_(std::move(summary)), synopsis_(std::move(synopsis)) {}

void FlagSet::Add(Flag flag) { flags_.push_back(std::move(flag)); }

void FlagSet::AddNumber(std::string_view name, std::string default_text, std::string range,
                        std::string_view help, std::function<Status(std::string_view)> set) {
  Add({std::string(name), "N", std::move(default_text), std::string(help) + " [" + range + "]",
       std::move(set)});
}

void FlagSet::String(std::string_view name, std::string* target, std::string_view help,
                     std::string_view value_name) {
  Add({std::string(name), std::string(value_name), *target, std::string(help),
       [target](std::string_view text) {
         *target = text;
         return Status::OK();
       }});
}

void FlagSet::Double(std::string_view name, double* target, double min, double max,
                     std::string_view help) {
  auto text = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", v);
    return std::string(buf);
  };
  std::string range = text(min) + ".." + text(max);
  Add({std::string(name), "X", text(*target), std::string(help) + " [" + range + "]",
       [target, min, max, range](std::string_view s) {
         double v = 0;
         const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
         if (ec != std::errc() || ptr != s.data() + s.size()) {
           return Status::InvalidArgument("not a number");
         }
         if (!(v >= min && v <= max)) return OutOfRange(range);
         *target = v;
         return Status::OK();
       }});
}

void FlagSet::Bool(std::string_view name, bool* target, std::string_view help) {
  Add({std::string(name), "", *target ? "true" : "false", std::string(help),
       [target](std::string_view s) {
         if (s == "true" || s == "1") {
           *target = true;
         } else if (s == "false" || s == "0") {
           *target = false;
         } else {
           return Status::InvalidArgument("not true, false, 1 or 0");
         }
         return Status::OK();
       }});
}

void FlagSet::Custom(std::string_view name, std::string_view value_name,
                     std::string_view default_text, std::function<Status(std::string_view)> parse,
                     std::string_view help) {
  Add({std::string(name), std::string(value_name), std::string(default_text), std::string(help),
       std::move(parse)});
}

void FlagSet::Positional(std::vector<std::string>* out) { positional_ = out; }

FlagSet::Flag* FlagSet::Find(std::string_view name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const FlagSet::Flag* FlagSet::Find(std::string_view name) const {
  return const_cast<FlagSet*>(this)->Find(name);
}

bool FlagSet::given(std::string_view name) const {
  const Flag* f = Find(name);
  return f != nullptr && f->given;
}

Status FlagSet::OutOfRange(const std::string& range) {
  return Status::InvalidArgument("out of range " + range);
}

bool FlagSet::ParseScaled(std::string_view text, long double* out) {
  long double scale = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k':
      case 'K':
        scale = 1e3L;
        break;
      case 'm':
      case 'M':
        scale = 1e6L;
        break;
      case 'g':
      case 'G':
        scale = 1e9L;
        break;
    }
    if (scale != 1) text.remove_suffix(1);
  }
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !(v >= 0)) {
    return false;
  }
  *out = static_cast<long double>(v) * scale;
  return true;
}

namespace {

namespace po = boost::program_options;

// The key under which Boost hands back arguments that are not flags; no flag can be spelled so.
constexpr const char* kPositionalKey = " positional";

// Long flags (`--name value`, `--name=value`), `-h`, and "--" ending the flags; no abbreviations,
// no short flags of the program's own (so "-x" is an unknown flag, not a cluster of letters).
constexpr int kStyle =
    po::command_line_style::allow_long | po::command_line_style::long_allow_adjacent |
    po::command_line_style::long_allow_next | po::command_line_style::allow_short |
    po::command_line_style::allow_dash_for_short | po::command_line_style::short_allow_next;

// "--name=" is Boost's "empty adjacent parameter" error; here it is the empty value, as in
// `--dir=` (the same as `--dir ''`).
std::vector<std::string> SplitEmptyAdjacentValues(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  out.reserve(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      out.insert(out.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    if (arg.size() > 3 && arg.rfind("--", 0) == 0 && arg.back() == '=' &&
        arg.find('=') == arg.size() - 1) {
      out.push_back(arg.substr(0, arg.size() - 1));
      out.emplace_back();
    } else {
      out.push_back(arg);
    }
  }
  return out;
}

// The name a person typed: "--bogus" of "--bogus=1", "-x" of "-x".
std::string TypedName(const po::option& o) {
  const std::string& token = o.original_tokens.empty() ? o.string_key : o.original_tokens[0];
  return token.substr(0, token.find('='));
}

}  // namespace

Status FlagSet::Parse(const std::vector<std::string>& args) {
  po::options_description description;
  description.add_options()("help,h", "");
  for (const Flag& f : flags_) {
    po::typed_value<std::string>* value = po::value<std::string>();
    // A switch alone means true; its value is only ever adjacent (`--name=false`).
    if (f.value_name.empty()) value->implicit_value("true");
    description.add(boost::make_shared<po::option_description>(f.name.c_str(), value, ""));
  }
  description.add_options()(kPositionalKey, po::value<std::vector<std::string>>(), "");
  po::positional_options_description positional;
  positional.add(kPositionalKey, -1);

  po::parsed_options parsed(&description);
  try {
    parsed = po::command_line_parser(SplitEmptyAdjacentValues(args))
                 .options(description)
                 .positional(positional)
                 .style(kStyle)
                 .allow_unregistered()
                 .run();
  } catch (const po::invalid_command_line_syntax& e) {
    if (e.kind() == po::invalid_command_line_syntax::missing_parameter) {
      return Status::InvalidArgument("missing value for " + e.get_option_name());
    }
    return Status::InvalidArgument(e.what());
  } catch (const po::error& e) {
    return Status::InvalidArgument(e.what());
  }

  // In command-line order, so the first problem is the one reported and --help stops the rest.
  for (const po::option& o : parsed.options) {
    if (o.unregistered) return Status::InvalidArgument("unknown flag " + TypedName(o));
    if (o.string_key == "help") {
      help_ = true;
      return Status::OK();
    }
    auto add_positional = [this](const std::string& word) {
      if (positional_ == nullptr) {
        return Status::InvalidArgument("unexpected argument '" + word + "'");
      }
      positional_->push_back(word);
      return Status::OK();
    };
    std::string value = o.value.empty() ? "true" : o.value.front();
    if (o.string_key == kPositionalKey) {
      if (o.position_key < 0) return Status::InvalidArgument("unknown flag " + TypedName(o));
      Status s = add_positional(value);
      if (!s.ok()) return s;
      continue;
    }
    Flag* flag = Find(o.string_key);
    if (flag->value_name.empty() && o.original_tokens.size() > 1) {
      // Boost gave a switch the next argument ("--verbose false"): that one is a word of its
      // own, and the switch stands alone.
      Status s = add_positional(value);
      if (!s.ok()) return s;
      value = "true";
    }
    Status s = flag->set(value);
    if (!s.ok()) {
      return Status::InvalidArgument("bad --" + flag->name + " '" + value +
                                     "': " + std::string(s.message()));
    }
    flag->given = true;
  }
  return Status::OK();
}

std::string FlagSet::Usage() const {
  std::string out = "usage: " + program_ + " " + synopsis_ + "\n";
  if (!summary_.empty()) out += summary_ + "\n";
  if (!flags_.empty()) out += "flags:\n";
  constexpr size_t kHelpColumn = 30;
  const std::string indent(kHelpColumn, ' ');
  auto line = [&](std::string left, std::string help) {
    left +=
        left.size() + 1 < kHelpColumn ? std::string(kHelpColumn - left.size(), ' ') : "\n" + indent;
    for (size_t pos = 0; (pos = help.find('\n', pos)) != std::string::npos; pos += indent.size()) {
      help.insert(++pos, indent);
    }
    out += left + help + "\n";
  };
  for (const Flag& f : flags_) {
    std::string left = "  --" + f.name;
    if (!f.value_name.empty()) left += " " + f.value_name;
    line(left, f.default_text.empty() ? f.help : f.help + " (default " + f.default_text + ")");
  }
  line("  --help", "this text");
  return out;
}

std::optional<int> FlagSet::ParseArguments(const std::vector<std::string>& args, std::ostream& out,
                                           std::ostream& err) {
  Status s = Parse(args);
  if (!s.ok()) {
    err << UsageError(program_, s.message()) << std::flush;
    return 2;
  }
  if (help_) {
    out << Usage() << std::flush;
    return 0;
  }
  return std::nullopt;
}

std::optional<int> FlagSet::ParseCommandLine(int argc, char** argv) {
  return ParseArguments(std::vector<std::string>(argv + (argc > 0 ? 1 : 0), argv + argc), std::cout,
                        std::cerr);
}

}  // namespace meshq
