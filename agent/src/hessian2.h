// Hessian 2.0 serialization, the subset Dubbo 2 bodies use: null, booleans, int/long/double in
// all compact forms, dates, strings (compact and chunked), binary, lists, maps, class
// definitions/objects (enough to print an exception) and back-references. Byte layouts:
// docs/dubbo.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "meshq/decode_result.h"
#include "meshq/status.h"

namespace meshq::agent::hessian2 {

// A decoded hessian2 value. Only exceptions, attachments and uncommon results are decoded into
// this tree; the hot path reads ints/strings directly with Reader.
struct Value {
  enum class Kind : unsigned char {
    kNull,
    kBool,
    kInt,
    kLong,
    kDouble,
    kDate,
    kString,
    kBinary,
    kList,
    kMap,
    kObject,
    kRef,
    kCut,  // a value nested deeper than the decoder keeps (read, validated and dropped)
  };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::int64_t integer = 0;  // kInt, kLong, kDate (ms since epoch), kRef (reference index)
  double real = 0;           // kDouble
  // kString: UTF-8 text; kBinary: raw bytes; kList/kMap/kObject: type or class name ("" untyped).
  std::string text;
  // kList: elements; kMap: key0, value0, key1, value1, ...; kObject: field values.
  std::vector<Value> items;
  std::vector<std::string> field_names;  // kObject: names matching `items`

  static Value Null() { return Value(); }
  static Value Int(std::int32_t v);
  static Value Long(std::int64_t v);
  static Value String(std::string_view utf8);

  // kObject: the value of field `name`, or nullptr. kMap: the value under string key `name`.
  const Value* Find(std::string_view name) const;
};

// Renders a value as plain text for HTTP answers and error messages: ints/longs in decimal,
// strings as-is, null as "null", maps as "{k=v, ...}", lists as "[a, b]", objects that look like a
// Java Throwable as "<class>: <detailMessage>", other objects as "<class>{field=value, ...}",
// references as "<ref N>", values cut by the decoder as "...". Never recurses more than a fixed
// depth.
std::string ToText(const Value& v);

// Appends hessian2 bytes to a caller-owned buffer, always in the shortest form. Keeps the class
// definitions it has written, so one Writer must serialize one whole message (Dubbo body).
class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}

  void WriteNull();
  void WriteBool(bool b);
  void WriteInt(std::int32_t v);
  void WriteLong(std::int64_t v);
  void WriteDouble(double v);
  // UTF-8 in; hessian2 out: length counted in UTF-16 units, chunks of at most 0x8000 units that
  // never split a surrogate pair, each non-BMP character written as two 3-byte sequences
  // (surrogates), which is what Java's Hessian2Input reads. InvalidArgument on invalid UTF-8 (the
  // buffer then holds a partial value; discard it).
  Status WriteString(std::string_view utf8);
  void WriteBinary(std::string_view bytes);
  // Untyped ('H') map of string keys to string values: Dubbo attachments.
  Status WriteStringMap(const std::vector<std::pair<std::string, std::string>>& entries);
  // Object of class `class_name` (class definition written the first time it is used).
  Status WriteObject(std::string_view class_name, const std::vector<std::string>& field_names,
                     const std::vector<Value>& field_values);
  // Any tree value (kRef writes a back-reference 'Q'; kCut is InvalidArgument).
  Status WriteValue(const Value& v);

 private:
  std::string* out_;
  std::vector<std::pair<std::string, std::vector<std::string>>> classes_;
};

// Reads hessian2 values sequentially from one buffer. Every Read* returns kOk and advances, or
// kNeedMore (the buffer ends inside the value) or kError (malformed; error() says why); after a
// non-kOk return the position is unspecified, so restart from a saved position() or give up.
// The Reader tracks class definitions and the reference count of one message, like Java's.
// ReadValue keeps kMaxKeptDepth levels of a tree: deeper values (a long Java exception cause
// chain) are read, validated and replaced by one kCut value each, and cut() says so; nesting
// deeper than kMaxReadDepth is an error (the stack stays bounded on hostile input).
// Not thread-safe; cheap to construct; does not allocate for ints, longs, nulls, bools, Skip().
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  DecodeState ReadNull();  // 'N' only
  DecodeState ReadBool(bool* v);
  DecodeState ReadInt(std::int32_t* v);   // int forms only
  DecodeState ReadLong(std::int64_t* v);  // long or int forms
  DecodeState ReadDouble(double* v);      // double forms (and int/long, widened)
  // Replaces *out with the string as standard UTF-8 (surrogate pairs re-joined, chunks joined).
  // Also accepts 'N' as the empty string when null_ok (then *was_null is set if not nullptr).
  DecodeState ReadString(std::string* out, bool null_ok = false, bool* was_null = nullptr);
  // Map of string keys to values rendered with ToText; 'N' yields an empty map.
  DecodeState ReadStringMap(std::vector<std::pair<std::string, std::string>>* out);
  DecodeState ReadValue(Value* out);
  DecodeState Skip();  // one value of any kind, validated, nothing built (except class defs)

  bool AtEnd() const { return pos_ >= in_.size(); }
  std::size_t position() const { return pos_; }
  // Byte at the current position (requires !AtEnd()): lets callers branch on the next tag.
  unsigned char PeekTag() const { return static_cast<unsigned char>(in_[pos_]); }
  const Status& error() const { return error_; }
  // True once a ReadValue of this reader replaced a too-deep value by kCut.
  bool cut() const { return cut_; }

  static constexpr int kMaxKeptDepth = 64;
  static constexpr int kMaxReadDepth = 512;

 private:
  struct ClassDef {
    std::string name;
    std::vector<std::string> fields;
  };
  DecodeState Fail(std::string_view what);
  DecodeState ReadValueDepth(Value* out, int depth);  // out == nullptr: skip
  DecodeState ReadType(std::string* type);
  DecodeState ReadClassDef();
  DecodeState ReadStringChunks(std::string* out);  // at a string tag
  DecodeState ReadBinaryChunks(std::string* out);  // at a binary tag

  std::string_view in_;
  std::size_t pos_ = 0;
  std::size_t refs_ = 0;  // maps, lists, objects seen so far (targets of 'Q')
  std::vector<ClassDef> classes_;
  std::vector<std::string> types_;
  std::string scratch_;
  Status error_;
  bool cut_ = false;
};

// Pure one-shot decode of the first value in `in`: the value and its byte length, need-more, or
// error. Equivalent to Reader(in).ReadValue().
DecodeResult<Value> DecodeValue(std::string_view in);

}  // namespace meshq::agent::hessian2
