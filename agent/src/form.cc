// application/x-www-form-urlencoded decoding into one reusable buffer, and encoding.
#include "form.h"

#include "utf8.h"

namespace meshq::agent::form {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~' || c == '*';
}

}  // namespace

Status DecodeComponent(std::string_view in, std::string* out) {
  // Decoded text is never longer than its input: size once, write through a pointer, trim.
  const std::size_t base = out->size();
  out->resize(base + in.size());
  char* dst = out->data() + base;
  for (std::size_t i = 0; i < in.size();) {
    const char c = in[i];
    if (c == '+') {
      *dst++ = ' ';
      ++i;
    } else if (c != '%') {
      *dst++ = c;
      ++i;
    } else {
      if (in.size() - i < 3) {
        out->resize(base);
        return Status::InvalidArgument("form: truncated %-escape at byte " + std::to_string(i));
      }
      const int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) {
        out->resize(base);
        return Status::InvalidArgument("form: invalid %-escape at byte " + std::to_string(i));
      }
      *dst++ = static_cast<char>(hi * 16 + lo);
      i += 3;
    }
  }
  out->resize(static_cast<std::size_t>(dst - out->data()));
  return Status::OK();
}

void EncodeComponent(std::string_view in, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c)) {
      out->push_back(ch);
    } else if (c == ' ') {
      out->push_back('+');
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

Status Form::Parse(std::string_view body, std::size_t max_fields) {
  buf_.clear();
  fields_.clear();
  std::size_t pos = 0;
  while (pos <= body.size()) {
    std::size_t amp = body.find('&', pos);
    if (amp == std::string_view::npos) amp = body.size();
    const std::string_view pair = body.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;  // "a=1&&b=2" or a trailing '&'
    if (fields_.size() >= max_fields) {
      buf_.clear();
      fields_.clear();
      return Status::InvalidArgument("form: more than " + std::to_string(max_fields) + " fields");
    }
    const std::size_t eq = pair.find('=');
    const std::string_view raw_name = pair.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    Field f;
    f.name_off = buf_.size();
    Status s = DecodeComponent(raw_name, &buf_);
    f.name_len = buf_.size() - f.name_off;
    f.value_off = buf_.size();
    if (s.ok()) s = DecodeComponent(raw_value, &buf_);
    f.value_len = buf_.size() - f.value_off;
    if (s.ok() && (!IsValidUtf8(std::string_view(buf_).substr(f.name_off, f.name_len)) ||
                   !IsValidUtf8(std::string_view(buf_).substr(f.value_off, f.value_len)))) {
      s = Status::InvalidArgument("form: invalid UTF-8");
    }
    if (!s.ok()) {
      std::string name(raw_name.substr(0, 64));
      buf_.clear();
      fields_.clear();
      return Status::InvalidArgument(std::string(s.message()) + " in field '" + name + "'");
    }
    fields_.push_back(f);
  }
  return Status::OK();
}

std::string_view Form::name(std::size_t i) const {
  return std::string_view(buf_).substr(fields_[i].name_off, fields_[i].name_len);
}

std::string_view Form::value(std::size_t i) const {
  return std::string_view(buf_).substr(fields_[i].value_off, fields_[i].value_len);
}

std::string_view Form::Get(std::string_view field_name, bool* found) const {
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    if (name(i) == field_name) {
      if (found) *found = true;
      return value(i);
    }
  }
  if (found) *found = false;
  return {};
}

std::size_t Form::Count(std::string_view field_name) const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < fields_.size(); ++i) n += name(i) == field_name;
  return n;
}

}  // namespace meshq::agent::form
