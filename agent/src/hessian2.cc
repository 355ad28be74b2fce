// Hessian 2.0 writer and reader (the subset Dubbo 2 uses). Grammar: docs/dubbo.md, section
// "hessian2"; the Java reference implementation's quirks we follow are noted where they matter.
#include "hessian2.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "meshq/coding.h"
#include "utf8.h"

namespace meshq::agent::hessian2 {
namespace {

constexpr std::size_t kMaxChunkUnits = 0x8000;  // Java's chunk size for strings
constexpr std::size_t kMaxBinaryChunk = 0x8000;
constexpr int kMaxDepth = 64;  // nesting bound: hostile input must not exhaust the stack

void AppendByte(int b, std::string* out) { out->push_back(static_cast<char>(b)); }

// UTF-16 length of a valid UTF-8 sequence from its lead byte.
inline std::size_t UnitsOf(unsigned char lead) { return lead >= 0xF0 ? 2 : 1; }
inline std::size_t BytesOf(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// Appends valid UTF-8 `s` in hessian's encoding: identical bytes except that each 4-byte
// sequence becomes its two surrogates, each as a 3-byte sequence (what Java's writer emits).
void AppendHessianUtf8(std::string_view s, std::string* out) {
  std::size_t start = 0;
  for (std::size_t i = 0; (i = SkipAscii(s, i)) < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0xF0) {
      i += BytesOf(lead);
      continue;
    }
    out->append(s.data() + start, i - start);
    char32_t cp;
    DecodeUtf8CodePoint(s, i, &cp);
    const char32_t v = cp - 0x10000;
    for (char32_t unit : {char32_t(0xD800 + (v >> 10)), char32_t(0xDC00 + (v & 0x3FF))}) {
      AppendByte(0xE0 | (unit >> 12), out);
      AppendByte(0x80 | ((unit >> 6) & 0x3F), out);
      AppendByte(0x80 | (unit & 0x3F), out);
    }
    i += 4;
    start = i;
  }
  out->append(s.data() + start, s.size() - start);
}

// Strings and binary share one chunk grammar with different tags: a 1-byte form for short
// lengths, a 2-byte form up to 1023, and 16-bit-length chunks (non-final / final).
struct ChunkTags {
  unsigned char tiny_first, tiny_last;    // length = tag - tiny_first
  unsigned char short_first, short_last;  // length = (tag - short_first) << 8 | next byte
  unsigned char more, last;               // u16 length follows
};
constexpr ChunkTags kStringTags{0x00, 0x1F, 0x30, 0x33, 'R', 'S'};
constexpr ChunkTags kBinaryTags{0x20, 0x2F, 0x34, 0x37, 'A', 'B'};

void AppendChunkHeader(const ChunkTags& t, std::size_t len, bool final_chunk, std::string* out) {
  if (!final_chunk) {
    AppendByte(t.more, out);
    PutBigEndian16(out, static_cast<std::uint16_t>(len));
  } else if (len <= static_cast<std::size_t>(t.tiny_last - t.tiny_first)) {
    AppendByte(t.tiny_first + static_cast<int>(len), out);
  } else if (len <= 1023) {
    AppendByte(t.short_first + static_cast<int>(len >> 8), out);
    AppendByte(static_cast<int>(len & 0xFF), out);
  } else {
    AppendByte(t.last, out);
    PutBigEndian16(out, static_cast<std::uint16_t>(len));
  }
}

bool IsChunkTag(const ChunkTags& t, unsigned char tag) {
  return (tag >= t.tiny_first && tag <= t.tiny_last) ||
         (tag >= t.short_first && tag <= t.short_last) || tag == t.more || tag == t.last;
}

// Parses the chunk header at in[*pos] (whose tag is `tag`); advances *pos past it. kError when
// `tag` is not a chunk tag of this kind.
DecodeState ReadChunkHeader(const ChunkTags& t, std::string_view in, std::size_t* pos,
                            std::size_t* len, bool* final_chunk) {
  const unsigned char tag = static_cast<unsigned char>(in[*pos]);
  const std::size_t avail = in.size() - *pos;
  *final_chunk = true;
  if (tag >= t.tiny_first && tag <= t.tiny_last) {
    *len = tag - t.tiny_first;
    *pos += 1;
  } else if (tag >= t.short_first && tag <= t.short_last) {
    if (avail < 2) return DecodeState::kNeedMore;
    *len = (static_cast<std::size_t>(tag - t.short_first) << 8) |
           static_cast<unsigned char>(in[*pos + 1]);
    *pos += 2;
  } else if (tag == t.more || tag == t.last) {
    if (avail < 3) return DecodeState::kNeedMore;
    *len = DecodeBigEndian16(in.data() + *pos + 1);
    *final_chunk = tag == t.last;
    *pos += 3;
  } else {
    return DecodeState::kError;
  }
  return DecodeState::kOk;
}

std::string FormatDouble(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

void AppendText(const Value& v, int depth, std::string* out) {
  if (depth > kMaxDepth) {
    out->append("...");
    return;
  }
  switch (v.kind) {
    case Value::Kind::kNull:
      out->append("null");
      return;
    case Value::Kind::kBool:
      out->append(v.boolean ? "true" : "false");
      return;
    case Value::Kind::kInt:
    case Value::Kind::kLong:
    case Value::Kind::kDate:
      out->append(std::to_string(v.integer));
      return;
    case Value::Kind::kDouble:
      out->append(FormatDouble(v.real));
      return;
    case Value::Kind::kString:
      out->append(v.text);
      return;
    case Value::Kind::kBinary:
      out->append("<");
      out->append(std::to_string(v.text.size()));
      out->append(" bytes>");
      return;
    case Value::Kind::kCut:
      out->append("...");
      return;
    case Value::Kind::kRef:
      out->append("<ref ");
      out->append(std::to_string(v.integer));
      out->append(">");
      return;
    case Value::Kind::kList:
      out->append("[");
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        if (i) out->append(", ");
        AppendText(v.items[i], depth + 1, out);
      }
      out->append("]");
      return;
    case Value::Kind::kMap:
      out->append("{");
      for (std::size_t i = 0; i + 1 < v.items.size(); i += 2) {
        if (i) out->append(", ");
        AppendText(v.items[i], depth + 1, out);
        out->append("=");
        AppendText(v.items[i + 1], depth + 1, out);
      }
      out->append("}");
      return;
    case Value::Kind::kObject: {
      // A Throwable carries its text in detailMessage; print it the way Java's toString does.
      const Value* detail = v.Find("detailMessage");
      if (detail != nullptr) {
        out->append(v.text);
        if (detail->kind != Value::Kind::kNull) {
          out->append(": ");
          AppendText(*detail, depth + 1, out);
        }
        return;
      }
      out->append(v.text);
      out->append("{");
      for (std::size_t i = 0; i < v.items.size() && i < v.field_names.size(); ++i) {
        if (i) out->append(", ");
        out->append(v.field_names[i]);
        out->append("=");
        AppendText(v.items[i], depth + 1, out);
      }
      out->append("}");
      return;
    }
  }
}

}  // namespace

// ---- Value ----

Value Value::Int(std::int32_t i) {
  Value v;
  v.kind = Kind::kInt;
  v.integer = i;
  return v;
}
Value Value::Long(std::int64_t i) {
  Value v;
  v.kind = Kind::kLong;
  v.integer = i;
  return v;
}
Value Value::String(std::string_view utf8) {
  Value v;
  v.kind = Kind::kString;
  v.text = utf8;
  return v;
}

const Value* Value::Find(std::string_view name) const {
  if (kind == Kind::kObject) {
    for (std::size_t i = 0; i < field_names.size() && i < items.size(); ++i) {
      if (field_names[i] == name) return &items[i];
    }
  } else if (kind == Kind::kMap) {
    for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
      if (items[i].kind == Kind::kString && items[i].text == name) return &items[i + 1];
    }
  }
  return nullptr;
}

std::string ToText(const Value& v) {
  std::string out;
  AppendText(v, 0, &out);
  return out;
}

// ---- Writer ----

void Writer::WriteNull() { AppendByte('N', out_); }
void Writer::WriteBool(bool b) { AppendByte(b ? 'T' : 'F', out_); }

void Writer::WriteInt(std::int32_t v) {
  if (v >= -16 && v <= 47) {
    AppendByte(0x90 + v, out_);
  } else if (v >= -2048 && v <= 2047) {
    AppendByte(0xC8 + (v >> 8), out_);
    AppendByte(v & 0xFF, out_);
  } else if (v >= -262144 && v <= 262143) {
    AppendByte(0xD4 + (v >> 16), out_);
    AppendByte((v >> 8) & 0xFF, out_);
    AppendByte(v & 0xFF, out_);
  } else {
    AppendByte('I', out_);
    PutBigEndian32(out_, static_cast<std::uint32_t>(v));
  }
}

void Writer::WriteLong(std::int64_t v) {
  if (v >= -8 && v <= 15) {
    AppendByte(0xE0 + static_cast<int>(v), out_);
  } else if (v >= -2048 && v <= 2047) {
    AppendByte(0xF8 + static_cast<int>(v >> 8), out_);
    AppendByte(static_cast<int>(v & 0xFF), out_);
  } else if (v >= -262144 && v <= 262143) {
    AppendByte(0x3C + static_cast<int>(v >> 16), out_);
    AppendByte(static_cast<int>((v >> 8) & 0xFF), out_);
    AppendByte(static_cast<int>(v & 0xFF), out_);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    AppendByte(0x59, out_);
    PutBigEndian32(out_, static_cast<std::uint32_t>(v));
  } else {
    AppendByte('L', out_);
    PutBigEndian64(out_, static_cast<std::uint64_t>(v));
  }
}

void Writer::WriteDouble(double v) {
  if (std::isfinite(v) && v >= -32768.0 && v <= 32767.0 && v == std::trunc(v) &&
      !(v == 0.0 && std::signbit(v))) {
    const int i = static_cast<int>(v);
    if (i == 0) return AppendByte(0x5B, out_);
    if (i == 1) return AppendByte(0x5C, out_);
    if (i >= -128 && i <= 127) {
      AppendByte(0x5D, out_);
      return AppendByte(i & 0xFF, out_);
    }
    AppendByte(0x5E, out_);
    return PutBigEndian16(out_, static_cast<std::uint16_t>(i));
  }
  std::uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  AppendByte('D', out_);
  PutBigEndian64(out_, bits);
}

Status Writer::WriteString(std::string_view utf8) {
  std::size_t total = 0;
  Status s = Utf16Length(utf8, &total);
  if (!s.ok()) return Status::InvalidArgument("hessian2 string: " + std::string(s.message()));
  std::size_t pos = 0;
  while (total > kMaxChunkUnits) {
    // Take whole code points up to 0x8000 units; a surrogate pair never straddles chunks.
    std::size_t units = 0, end = pos;
    while (end < utf8.size()) {
      const auto lead = static_cast<unsigned char>(utf8[end]);
      if (units + UnitsOf(lead) > kMaxChunkUnits) break;
      units += UnitsOf(lead);
      end += BytesOf(lead);
    }
    AppendChunkHeader(kStringTags, units, false, out_);
    AppendHessianUtf8(utf8.substr(pos, end - pos), out_);
    total -= units;
    pos = end;
  }
  AppendChunkHeader(kStringTags, total, true, out_);
  AppendHessianUtf8(utf8.substr(pos), out_);
  return Status::OK();
}

void Writer::WriteBinary(std::string_view bytes) {
  while (bytes.size() > kMaxBinaryChunk) {
    AppendChunkHeader(kBinaryTags, kMaxBinaryChunk, false, out_);
    out_->append(bytes.substr(0, kMaxBinaryChunk));
    bytes.remove_prefix(kMaxBinaryChunk);
  }
  AppendChunkHeader(kBinaryTags, bytes.size(), true, out_);
  out_->append(bytes);
}

Status Writer::WriteStringMap(const std::vector<std::pair<std::string, std::string>>& entries) {
  AppendByte('H', out_);
  for (const auto& [k, v] : entries) {
    Status s = WriteString(k);
    if (s.ok()) s = WriteString(v);
    if (!s.ok()) return s;
  }
  AppendByte('Z', out_);
  return Status::OK();
}

Status Writer::WriteObject(std::string_view class_name, const std::vector<std::string>& field_names,
                           const std::vector<Value>& field_values) {
  if (field_names.size() != field_values.size()) {
    return Status::InvalidArgument("hessian2 object: field names and values differ in count");
  }
  std::size_t index = 0;
  while (index < classes_.size() &&
         !(classes_[index].first == class_name && classes_[index].second == field_names)) {
    ++index;
  }
  if (index == classes_.size()) {
    AppendByte('C', out_);
    Status s = WriteString(class_name);
    if (!s.ok()) return s;
    WriteInt(static_cast<std::int32_t>(field_names.size()));
    for (const auto& f : field_names) {
      s = WriteString(f);
      if (!s.ok()) return s;
    }
    classes_.emplace_back(std::string(class_name), field_names);
  }
  if (index <= 15) {
    AppendByte(0x60 + static_cast<int>(index), out_);
  } else {
    AppendByte('O', out_);
    WriteInt(static_cast<std::int32_t>(index));
  }
  for (const auto& v : field_values) {
    Status s = WriteValue(v);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

Status Writer::WriteValue(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNull:
      WriteNull();
      return Status::OK();
    case Value::Kind::kBool:
      WriteBool(v.boolean);
      return Status::OK();
    case Value::Kind::kInt:
      WriteInt(static_cast<std::int32_t>(v.integer));
      return Status::OK();
    case Value::Kind::kLong:
      WriteLong(v.integer);
      return Status::OK();
    case Value::Kind::kDouble:
      WriteDouble(v.real);
      return Status::OK();
    case Value::Kind::kDate:
      AppendByte(0x4A, out_);
      PutBigEndian64(out_, static_cast<std::uint64_t>(v.integer));
      return Status::OK();
    case Value::Kind::kString:
      return WriteString(v.text);
    case Value::Kind::kBinary:
      WriteBinary(v.text);
      return Status::OK();
    case Value::Kind::kRef:
      AppendByte('Q', out_);
      WriteInt(static_cast<std::int32_t>(v.integer));
      return Status::OK();
    case Value::Kind::kList: {
      const std::size_t n = v.items.size();
      if (v.text.empty()) {
        if (n <= 7) {
          AppendByte(0x78 + static_cast<int>(n), out_);
        } else {
          AppendByte('X', out_);
          WriteInt(static_cast<std::int32_t>(n));
        }
      } else {
        AppendByte(n <= 7 ? 0x70 + static_cast<int>(n) : 'V', out_);
        Status s = WriteString(v.text);
        if (!s.ok()) return s;
        if (n > 7) WriteInt(static_cast<std::int32_t>(n));
      }
      for (const auto& item : v.items) {
        Status s = WriteValue(item);
        if (!s.ok()) return s;
      }
      return Status::OK();
    }
    case Value::Kind::kMap: {
      if (v.items.size() % 2 != 0) return Status::InvalidArgument("hessian2 map: odd item count");
      if (v.text.empty()) {
        AppendByte('H', out_);
      } else {
        AppendByte('M', out_);
        Status s = WriteString(v.text);
        if (!s.ok()) return s;
      }
      for (const auto& item : v.items) {
        Status s = WriteValue(item);
        if (!s.ok()) return s;
      }
      AppendByte('Z', out_);
      return Status::OK();
    }
    case Value::Kind::kObject:
      return WriteObject(v.text, v.field_names, v.items);
    case Value::Kind::kCut:
      return Status::InvalidArgument("hessian2: a cut value cannot be written");
  }
  return Status::InvalidArgument("hessian2: unknown value kind");
}

// ---- Reader ----

DecodeState Reader::Fail(std::string_view what) {
  error_ =
      Status::Corruption("hessian2: " + std::string(what) + " at byte " + std::to_string(pos_));
  return DecodeState::kError;
}

#define MESHQ_H2_TRY(expr)                   \
  do {                                       \
    const DecodeState st_ = (expr);          \
    if (st_ != DecodeState::kOk) return st_; \
  } while (0)

DecodeState Reader::ReadNull() {
  if (AtEnd()) return DecodeState::kNeedMore;
  if (PeekTag() != 'N') return Fail("expected null");
  ++pos_;
  return DecodeState::kOk;
}

DecodeState Reader::ReadBool(bool* v) {
  if (AtEnd()) return DecodeState::kNeedMore;
  const unsigned char tag = PeekTag();
  if (tag != 'T' && tag != 'F') return Fail("expected boolean");
  *v = tag == 'T';
  ++pos_;
  return DecodeState::kOk;
}

DecodeState Reader::ReadInt(std::int32_t* v) {
  if (AtEnd()) return DecodeState::kNeedMore;
  const unsigned char tag = PeekTag();
  const std::size_t avail = in_.size() - pos_;
  const auto* b = reinterpret_cast<const unsigned char*>(in_.data()) + pos_;
  if (tag >= 0x80 && tag <= 0xBF) {
    *v = tag - 0x90;
    pos_ += 1;
  } else if (tag >= 0xC0 && tag <= 0xCF) {
    if (avail < 2) return DecodeState::kNeedMore;
    *v = ((tag - 0xC8) * 256) + b[1];
    pos_ += 2;
  } else if (tag >= 0xD0 && tag <= 0xD7) {
    if (avail < 3) return DecodeState::kNeedMore;
    *v = ((tag - 0xD4) * 65536) + (b[1] << 8) + b[2];
    pos_ += 3;
  } else if (tag == 'I') {
    if (avail < 5) return DecodeState::kNeedMore;
    *v = static_cast<std::int32_t>(DecodeBigEndian32(in_.data() + pos_ + 1));
    pos_ += 5;
  } else {
    return Fail("expected int");
  }
  return DecodeState::kOk;
}

DecodeState Reader::ReadLong(std::int64_t* v) {
  if (AtEnd()) return DecodeState::kNeedMore;
  const unsigned char tag = PeekTag();
  const std::size_t avail = in_.size() - pos_;
  const auto* b = reinterpret_cast<const unsigned char*>(in_.data()) + pos_;
  if (tag >= 0xD8 && tag <= 0xEF) {
    *v = tag - 0xE0;
    pos_ += 1;
  } else if (tag >= 0xF0) {
    if (avail < 2) return DecodeState::kNeedMore;
    *v = ((tag - 0xF8) * 256) + b[1];
    pos_ += 2;
  } else if (tag >= 0x38 && tag <= 0x3F) {
    if (avail < 3) return DecodeState::kNeedMore;
    *v = ((tag - 0x3C) * 65536) + (b[1] << 8) + b[2];
    pos_ += 3;
  } else if (tag == 0x59) {
    if (avail < 5) return DecodeState::kNeedMore;
    *v = static_cast<std::int32_t>(DecodeBigEndian32(in_.data() + pos_ + 1));
    pos_ += 5;
  } else if (tag == 'L') {
    if (avail < 9) return DecodeState::kNeedMore;
    *v = static_cast<std::int64_t>(DecodeBigEndian64(in_.data() + pos_ + 1));
    pos_ += 9;
  } else {
    std::int32_t i;
    MESHQ_H2_TRY(ReadInt(&i));
    *v = i;
  }
  return DecodeState::kOk;
}

DecodeState Reader::ReadDouble(double* v) {
  if (AtEnd()) return DecodeState::kNeedMore;
  const unsigned char tag = PeekTag();
  const std::size_t avail = in_.size() - pos_;
  const char* p = in_.data() + pos_;
  switch (tag) {
    case 0x5B:
      *v = 0.0;
      pos_ += 1;
      return DecodeState::kOk;
    case 0x5C:
      *v = 1.0;
      pos_ += 1;
      return DecodeState::kOk;
    case 0x5D:
      if (avail < 2) return DecodeState::kNeedMore;
      *v = static_cast<signed char>(p[1]);
      pos_ += 2;
      return DecodeState::kOk;
    case 0x5E:
      if (avail < 3) return DecodeState::kNeedMore;
      *v = static_cast<std::int16_t>(DecodeBigEndian16(p + 1));
      pos_ += 3;
      return DecodeState::kOk;
    case 0x5F:
      // Java's Hessian2 writes this form as an int count of thousandths ("double mill").
      if (avail < 5) return DecodeState::kNeedMore;
      *v = 0.001 * static_cast<std::int32_t>(DecodeBigEndian32(p + 1));
      pos_ += 5;
      return DecodeState::kOk;
    case 'D': {
      if (avail < 9) return DecodeState::kNeedMore;
      const std::uint64_t bits = DecodeBigEndian64(p + 1);
      std::memcpy(v, &bits, sizeof bits);
      pos_ += 9;
      return DecodeState::kOk;
    }
    default: {
      std::int64_t i;
      MESHQ_H2_TRY(ReadLong(&i));
      *v = static_cast<double>(i);
      return DecodeState::kOk;
    }
  }
}

// Reads the chunk sequence at the current position (a string tag); appends standard UTF-8 to *out,
// or only validates when out is nullptr.
DecodeState Reader::ReadStringChunks(std::string* out) {
  char16_t pending_high = 0;  // a high surrogate waiting for its low half (may cross chunks)
  for (;;) {
    std::size_t units;
    bool final_chunk;
    const DecodeState st = ReadChunkHeader(kStringTags, in_, &pos_, &units, &final_chunk);
    if (st == DecodeState::kError) return Fail("expected string chunk");
    if (st != DecodeState::kOk) return st;
    const auto* s = reinterpret_cast<const unsigned char*>(in_.data());
    while (units > 0) {
      if (pos_ >= in_.size()) return DecodeState::kNeedMore;
      const unsigned char lead = s[pos_];
      if (lead < 0x80) {
        if (pending_high) return Fail("unpaired surrogate in string");
        // ASCII run: copy as many as the chunk and buffer allow in one go.
        std::size_t n = 1;
        while (n < units && pos_ + n < in_.size() && s[pos_ + n] < 0x80) ++n;
        if (out) out->append(in_.data() + pos_, n);
        pos_ += n;
        units -= n;
        continue;
      }
      const std::size_t len = BytesOf(lead);
      if (lead < 0xC0) return Fail("bad UTF-8 lead byte in string");
      if (pos_ + len > in_.size()) return DecodeState::kNeedMore;
      char32_t cp = lead & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
      for (std::size_t i = 1; i < len; ++i) {
        if ((s[pos_ + i] & 0xC0) != 0x80) return Fail("bad UTF-8 continuation in string");
        cp = (cp << 6) | (s[pos_ + i] & 0x3F);
      }
      pos_ += len;
      if (len == 4) {
        // Not what Java writes, but other implementations do: accept a whole non-BMP char.
        if (units < 2 || pending_high || cp < 0x10000 || cp > 0x10FFFF) {
          return Fail("bad 4-byte character in string");
        }
        units -= 2;
        if (out) AppendUtf8(cp, out);
        continue;
      }
      units -= 1;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (pending_high) return Fail("unpaired surrogate in string");
        pending_high = static_cast<char16_t>(cp);
        continue;
      }
      if (cp >= 0xDC00 && cp <= 0xDFFF) {
        if (!pending_high) return Fail("unpaired surrogate in string");
        cp = 0x10000 + ((pending_high - 0xD800u) << 10) + (cp - 0xDC00u);
        pending_high = 0;
      } else if (pending_high) {
        return Fail("unpaired surrogate in string");
      }
      if (out) AppendUtf8(cp, out);
    }
    if (final_chunk) {
      if (pending_high) return Fail("unpaired surrogate in string");
      return DecodeState::kOk;
    }
    if (AtEnd()) return DecodeState::kNeedMore;
  }
}

DecodeState Reader::ReadString(std::string* out, bool null_ok, bool* was_null) {
  if (AtEnd()) return DecodeState::kNeedMore;
  const unsigned char tag = PeekTag();
  if (was_null) *was_null = false;
  if (tag == 'N' && null_ok) {
    ++pos_;
    out->clear();
    if (was_null) *was_null = true;
    return DecodeState::kOk;
  }
  if (!IsChunkTag(kStringTags, tag)) {
    return Fail("expected string");
  }
  out->clear();
  return ReadStringChunks(out);
}

DecodeState Reader::ReadBinaryChunks(std::string* out) {
  for (;;) {
    std::size_t len;
    bool final_chunk;
    const DecodeState st = ReadChunkHeader(kBinaryTags, in_, &pos_, &len, &final_chunk);
    if (st == DecodeState::kError) return Fail("expected binary chunk");
    if (st != DecodeState::kOk) return st;
    if (in_.size() - pos_ < len) return DecodeState::kNeedMore;
    if (out) out->append(in_.data() + pos_, len);
    pos_ += len;
    if (final_chunk) return DecodeState::kOk;
    if (AtEnd()) return DecodeState::kNeedMore;
  }
}

// type ::= string | int (index into the types seen so far in this message)
DecodeState Reader::ReadType(std::string* type) {
  if (AtEnd()) return DecodeState::kNeedMore;
  const unsigned char tag = PeekTag();
  if (IsChunkTag(kStringTags, tag)) {
    MESHQ_H2_TRY(ReadString(&scratch_));
    types_.push_back(scratch_);
    if (type) *type = scratch_;
    return DecodeState::kOk;
  }
  std::int32_t ref;
  MESHQ_H2_TRY(ReadInt(&ref));
  if (ref < 0 || static_cast<std::size_t>(ref) >= types_.size()) return Fail("bad type reference");
  if (type) *type = types_[ref];
  return DecodeState::kOk;
}

// class-def ::= 'C' string int string*
DecodeState Reader::ReadClassDef() {
  ++pos_;  // 'C'
  ClassDef def;
  MESHQ_H2_TRY(ReadString(&def.name));
  std::int32_t count;
  MESHQ_H2_TRY(ReadInt(&count));
  if (count < 0 || count > 4096) return Fail("bad class field count");
  def.fields.resize(static_cast<std::size_t>(count));
  for (auto& f : def.fields) MESHQ_H2_TRY(ReadString(&f));
  classes_.push_back(std::move(def));
  return DecodeState::kOk;
}

DecodeState Reader::ReadValue(Value* out) {
  *out = Value();
  return ReadValueDepth(out, 0);
}

DecodeState Reader::Skip() { return ReadValueDepth(nullptr, 0); }

DecodeState Reader::ReadValueDepth(Value* out, int depth) {
  if (depth > kMaxReadDepth) return Fail("values nested too deeply");
  if (out != nullptr && depth > kMaxKeptDepth) {
    // Keep the outer levels (an exception's class and text) and read the rest only to stay in
    // step: its class definitions and reference numbers still count for what follows.
    out->kind = Value::Kind::kCut;
    cut_ = true;
    return ReadValueDepth(nullptr, depth);
  }
  for (;;) {
    if (AtEnd()) return DecodeState::kNeedMore;
    const unsigned char tag = PeekTag();
    if (tag != 'C') break;
    MESHQ_H2_TRY(ReadClassDef());
  }
  const unsigned char tag = PeekTag();
  using K = Value::Kind;
  auto set_kind = [&](K k) {
    if (out) out->kind = k;
  };

  // Scalars.
  if (tag == 'N') {
    ++pos_;
    set_kind(K::kNull);
    return DecodeState::kOk;
  }
  if (tag == 'T' || tag == 'F') {
    bool b;
    MESHQ_H2_TRY(ReadBool(&b));
    set_kind(K::kBool);
    if (out) out->boolean = b;
    return DecodeState::kOk;
  }
  if ((tag >= 0x80 && tag <= 0xD7) || tag == 'I') {
    std::int32_t i;
    MESHQ_H2_TRY(ReadInt(&i));
    set_kind(K::kInt);
    if (out) out->integer = i;
    return DecodeState::kOk;
  }
  if (tag >= 0xD8 || (tag >= 0x38 && tag <= 0x3F) || tag == 0x59 || tag == 'L') {
    std::int64_t l;
    MESHQ_H2_TRY(ReadLong(&l));
    set_kind(K::kLong);
    if (out) out->integer = l;
    return DecodeState::kOk;
  }
  if ((tag >= 0x5B && tag <= 0x5F) || tag == 'D') {
    double d;
    MESHQ_H2_TRY(ReadDouble(&d));
    set_kind(K::kDouble);
    if (out) out->real = d;
    return DecodeState::kOk;
  }
  if (tag == 0x4A || tag == 0x4B) {
    const std::size_t need = tag == 0x4A ? 9 : 5;
    if (in_.size() - pos_ < need) return DecodeState::kNeedMore;
    const std::int64_t ms =
        tag == 0x4A ? static_cast<std::int64_t>(DecodeBigEndian64(in_.data() + pos_ + 1))
                    : static_cast<std::int32_t>(DecodeBigEndian32(in_.data() + pos_ + 1)) *
                          std::int64_t{60000};
    pos_ += need;
    set_kind(K::kDate);
    if (out) out->integer = ms;
    return DecodeState::kOk;
  }
  if (IsChunkTag(kStringTags, tag)) {
    set_kind(K::kString);
    return ReadStringChunks(out ? &out->text : nullptr);
  }
  if (IsChunkTag(kBinaryTags, tag)) {
    set_kind(K::kBinary);
    return ReadBinaryChunks(out ? &out->text : nullptr);
  }
  if (tag == 'Q') {
    ++pos_;
    std::int32_t ref;
    MESHQ_H2_TRY(ReadInt(&ref));
    if (ref < 0 || static_cast<std::size_t>(ref) >= refs_) return Fail("bad back-reference");
    set_kind(K::kRef);
    if (out) out->integer = ref;
    return DecodeState::kOk;
  }

  // Containers: each counts as one reference target, numbered in the order they start.
  auto read_item = [&](Value* parent) -> DecodeState {
    if (!parent) return ReadValueDepth(nullptr, depth + 1);
    parent->items.emplace_back();
    return ReadValueDepth(&parent->items.back(), depth + 1);
  };
  auto read_until_z = [&](Value* parent) -> DecodeState {
    for (;;) {
      if (AtEnd()) return DecodeState::kNeedMore;
      if (PeekTag() == 'Z') {
        ++pos_;
        return DecodeState::kOk;
      }
      MESHQ_H2_TRY(read_item(parent));
    }
  };
  auto read_count = [&](std::size_t* n) -> DecodeState {
    std::int32_t c;
    MESHQ_H2_TRY(ReadInt(&c));
    if (c < 0) return Fail("negative length");
    *n = static_cast<std::size_t>(c);
    return DecodeState::kOk;
  };
  auto read_n = [&](Value* parent, std::size_t n) -> DecodeState {
    // Never trust n for a reservation: every item is at least one byte.
    if (parent) parent->items.reserve(std::min(n, in_.size() - pos_));
    for (std::size_t i = 0; i < n; ++i) MESHQ_H2_TRY(read_item(parent));
    return DecodeState::kOk;
  };
  std::string* type = out ? &out->text : nullptr;

  if (tag == 'H' || tag == 'M') {
    ++pos_;
    ++refs_;
    set_kind(K::kMap);
    if (tag == 'M') MESHQ_H2_TRY(ReadType(type));
    return read_until_z(out);  // keys and values alternate
  }
  if (tag >= 0x55 && tag <= 0x58) {
    ++pos_;
    ++refs_;
    set_kind(K::kList);
    if (tag == 0x55 || tag == 0x56) MESHQ_H2_TRY(ReadType(type));
    if (tag == 0x55 || tag == 0x57) return read_until_z(out);
    std::size_t n;
    MESHQ_H2_TRY(read_count(&n));
    return read_n(out, n);
  }
  if (tag >= 0x70 && tag <= 0x7F) {
    ++pos_;
    ++refs_;
    set_kind(K::kList);
    if (tag <= 0x77) MESHQ_H2_TRY(ReadType(type));
    return read_n(out, tag & 0x07);
  }
  if (tag == 'O' || (tag >= 0x60 && tag <= 0x6F)) {
    ++pos_;
    std::size_t index;
    if (tag == 'O') {
      MESHQ_H2_TRY(read_count(&index));
    } else {
      index = tag - 0x60u;
    }
    if (index >= classes_.size()) return Fail("object of undefined class");
    ++refs_;
    set_kind(K::kObject);
    // Copy what we need: classes_ may grow (and reallocate) while fields are read.
    const std::size_t nfields = classes_[index].fields.size();
    if (out) {
      out->text = classes_[index].name;
      out->field_names = classes_[index].fields;
    }
    return read_n(out, nfields);
  }
  return Fail("unknown tag " + std::to_string(tag));
}

DecodeState Reader::ReadStringMap(std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  if (AtEnd()) return DecodeState::kNeedMore;
  if (PeekTag() == 'N') {
    ++pos_;
    return DecodeState::kOk;
  }
  const unsigned char tag = PeekTag();
  if (tag != 'H' && tag != 'M') return Fail("expected map");
  ++pos_;
  ++refs_;
  if (tag == 'M') MESHQ_H2_TRY(ReadType(nullptr));
  Value key, value;
  for (;;) {
    if (AtEnd()) return DecodeState::kNeedMore;
    if (PeekTag() == 'Z') {
      ++pos_;
      return DecodeState::kOk;
    }
    key = Value();
    value = Value();
    MESHQ_H2_TRY(ReadValueDepth(&key, 1));
    MESHQ_H2_TRY(ReadValueDepth(&value, 1));
    out->emplace_back(ToText(key), ToText(value));
  }
}

#undef MESHQ_H2_TRY

DecodeResult<Value> DecodeValue(std::string_view in) {
  Reader r(in);
  Value v;
  switch (r.ReadValue(&v)) {
    case DecodeState::kOk:
      return DecodeResult<Value>::Ok(std::move(v), r.position());
    case DecodeState::kNeedMore:
      return DecodeResult<Value>::NeedMore();
    case DecodeState::kError:
      break;
  }
  return DecodeResult<Value>::Error(r.error());
}

}  // namespace meshq::agent::hessian2
