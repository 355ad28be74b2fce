// FlagSet: declaration, parsing and the usage text.
#include "meshq/flags.h"

#include <cstdio>
#include <utility>

namespace meshq {

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

Status FlagSet::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_ = true;
      return Status::OK();
    }
    if (arg == "--") {
      if (positional_ == nullptr && i + 1 < args.size()) {
        return Status::InvalidArgument("unexpected argument '" + args[i + 1] + "'");
      }
      for (++i; i < args.size(); ++i) positional_->push_back(args[i]);
      break;
    }
    if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
      return Status::InvalidArgument("unknown flag " + arg);
    }
    if (arg.rfind("--", 0) != 0) {  // a word, or "-" (stdin, by convention)
      if (positional_ == nullptr)
        return Status::InvalidArgument("unexpected argument '" + arg + "'");
      positional_->push_back(arg);
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    Flag* flag = Find(name);
    if (flag == nullptr || name.empty()) {
      return Status::InvalidArgument("unknown flag --" + name);
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (flag->value_name.empty()) {
      value = "true";  // a switch alone
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Status::InvalidArgument("missing value for --" + name);
    }
    Status s = flag->set(value);
    if (!s.ok()) {
      return Status::InvalidArgument("bad --" + name + " '" + value +
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

std::optional<int> FlagSet::ParseCommandLine(int argc, char** argv) {
  const std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  Status s = Parse(args);
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s (see %s --help)\n", program_.c_str(),
                 std::string(s.message()).c_str(), program_.c_str());
    return 2;
  }
  if (help_) {
    std::fputs(Usage().c_str(), stdout);
    return 0;
  }
  return std::nullopt;
}

}  // namespace meshq
