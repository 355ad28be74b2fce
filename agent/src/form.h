// application/x-www-form-urlencoded decoding (the consumer-agent's POST bodies) and encoding
// (tests, load scripts): '+' is a space, %XX any-case hex, values must be UTF-8.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "meshq/status.h"

namespace meshq::agent::form {

// Appends the percent-decoded form of `in` to *out. InvalidArgument on a truncated or non-hex
// escape (then *out is unchanged); does not check UTF-8 (Form::Parse does, per field).
Status DecodeComponent(std::string_view in, std::string* out);

// Appends `in` encoded for a form body: unreserved bytes as-is, space as '+', others %XX.
void EncodeComponent(std::string_view in, std::string* out);

// A decoded form body. Keeps one byte buffer and offsets, so reusing a Form per connection
// allocates nothing in steady state. Not thread-safe.
class Form {
 public:
  // Replaces the contents with the fields of `body` ("a=1&b=&c&a=2": fields a, b, c, a; an empty
  // or missing '=' value is ""; empty pairs from "&&" are skipped). InvalidArgument naming the
  // field on a bad escape, invalid UTF-8 in a name or value, or more than max_fields fields.
  // On error the form is empty.
  Status Parse(std::string_view body, std::size_t max_fields = 64);

  // The first value of `name`, or found=false (and "") when missing. Valid until the next Parse.
  std::string_view Get(std::string_view name, bool* found = nullptr) const;
  // How many times `name` occurs.
  std::size_t Count(std::string_view name) const;

  std::size_t size() const { return fields_.size(); }
  std::string_view name(std::size_t i) const;
  std::string_view value(std::size_t i) const;

 private:
  struct Field {
    std::size_t name_off, name_len, value_off, value_len;
  };
  std::string buf_;
  std::vector<Field> fields_;
};

}  // namespace meshq::agent::form
