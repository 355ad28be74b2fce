// FlagSet: the one command-line parser of every meshq program. A program declares its flags,
// each bound to a variable whose value at declaration is the default, then parses its arguments.
// Every flag takes `--name value` and `--name=value`; numbers are checked for type and range;
// an unknown flag, a missing value or a bad one is an InvalidArgument naming the flag; `--help`
// (or `-h`) asks for Usage(), which lists every flag with its default. Boost.Program_options splits
// the command line; FlagSet adds the typed, range-checked values and one error style.
#pragma once

#include <charconv>
#include <concepts>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "meshq/status.h"

namespace meshq {

// The one style of a bad-usage message, for FlagSet and for a program's own checks after it
// (a required flag missing, two that conflict): "<program>: <message>; see --help\n". Such an
// exit is status 2.
std::string UsageError(std::string_view program, std::string_view message);

class FlagSet {
 public:
  // `program` and `summary` head the usage text; `synopsis` follows the program name on its
  // "usage:" line (default "[flags]").
  FlagSet(std::string program, std::string summary, std::string synopsis = "[flags]");

  // Declarations: `name` without the leading dashes; `*target` holds the default and receives
  // the value; `help` is one line or more ("\n" starts an indented continuation). Declare each
  // name once.
  void String(std::string_view name, std::string* target, std::string_view help,
              std::string_view value_name = "S");
  // A whole decimal number within [min, max] ("1e3" and "2x" are refused).
  template <std::integral T>
  void Int(std::string_view name, T* target, T min, T max, std::string_view help) {
    AddNumber(name, std::to_string(*target), Range(min, max), help,
              [target, min, max](std::string_view text) {
                return ParseNumber(text, /*scaled=*/false, min, max, target);
              });
  }
  // A count of things: like Int, and also 10k, 2.5M, 1G (10^3, 10^6, 10^9) and 1e6.
  template <std::integral T>
  void Count(std::string_view name, T* target, T min, T max, std::string_view help) {
    AddNumber(name, std::to_string(*target), Range(min, max), help,
              [target, min, max](std::string_view text) {
                return ParseNumber(text, /*scaled=*/true, min, max, target);
              });
  }
  // A decimal number within [min, max], fractions allowed.
  void Double(std::string_view name, double* target, double min, double max, std::string_view help);
  // A switch: `--name` sets *target true; `--name=true|false|1|0` sets it either way. (Only
  // with "=": a switch never takes the next argument as its value.)
  void Bool(std::string_view name, bool* target, std::string_view help);
  // A value checked by `parse`, whose InvalidArgument message says what is accepted;
  // `default_text` is the default shown by Usage() ("" for none).
  void Custom(std::string_view name, std::string_view value_name, std::string_view default_text,
              std::function<Status(std::string_view)> parse, std::string_view help);
  // Accepts arguments that are not flags (refused otherwise), in order, into *out; the
  // constructor's `synopsis` names them for Usage().
  void Positional(std::vector<std::string>* out);

  // Parses `args` (argv without the program name); "--" ends the flags (what follows is
  // positional). Stops at --help / -h, leaving help() true. Pure: no I/O, no process state; only
  // the declared targets change. InvalidArgument messages: "unknown flag --x", "missing value
  // for --x", "bad --x 'v': <why>".
  Status Parse(const std::vector<std::string>& args);
  // Whether --help / -h was given.
  bool help() const { return help_; }
  // Whether the command line set flag `name`.
  bool given(std::string_view name) const;
  // The help text: usage line, summary, and every flag with its value, help and default.
  std::string Usage() const;

  // For main(): parses argv. On --help prints Usage() to stdout and yields 0; on an error
  // prints UsageError(program, message) to stderr and yields 2; nullopt when the program
  // should run.
  std::optional<int> ParseCommandLine(int argc, char** argv);
  // The same over `args` (argv without the program name), writing to `out` and `err`.
  std::optional<int> ParseArguments(const std::vector<std::string>& args, std::ostream& out,
                                    std::ostream& err);
  // The program named in the usage and error texts.
  const std::string& program() const { return program_; }

  // Numbers, for the templates above: *out = text within [min, max], or an error saying why.
  template <std::integral T>
  static Status ParseNumber(std::string_view text, bool scaled, T min, T max, T* out) {
    T value{};
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc() && ptr == text.data() + text.size()) {
      if (value < min || value > max) return OutOfRange(Range(min, max));
      *out = value;
      return Status::OK();
    }
    if (ec == std::errc::result_out_of_range) return OutOfRange(Range(min, max));
    long double scaled_value = 0;
    if (!scaled || !ParseScaled(text, &scaled_value)) {
      return Status::InvalidArgument(scaled ? "not a count (e.g. 1000, 10k, 2.5M, 1e6)"
                                            : "not a whole number");
    }
    if (scaled_value < static_cast<long double>(min) ||
        scaled_value > static_cast<long double>(max)) {
      return OutOfRange(Range(min, max));
    }
    *out = static_cast<T>(scaled_value);
    return Status::OK();
  }

 private:
  struct Flag {
    std::string name;
    std::string value_name;  // "" for a switch
    std::string default_text;
    std::string help;
    std::function<Status(std::string_view)> set;
    bool given = false;
  };

  template <typename T>
  static std::string Range(T min, T max) {
    return std::to_string(min) + ".." + std::to_string(max);
  }
  static Status OutOfRange(const std::string& range);
  // "2.5M", "10k", "1e6" -> the number; false when not one.
  static bool ParseScaled(std::string_view text, long double* out);

  void Add(Flag flag);
  void AddNumber(std::string_view name, std::string default_text, std::string range,
                 std::string_view help, std::function<Status(std::string_view)> set);
  Flag* Find(std::string_view name);
  const Flag* Find(std::string_view name) const;

  std::string program_, summary_, synopsis_;
  std::vector<Flag> flags_;
  std::vector<std::string>* positional_ = nullptr;
  bool help_ = false;
};

}  // namespace meshq
