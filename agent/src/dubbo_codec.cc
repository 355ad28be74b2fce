// Dubbo 2 framing and hessian2 bodies: requests/heartbeats out, responses in (and the reverse for
// the provider simulator). Layouts: docs/dubbo.md.
#include "dubbo_codec.h"

#include <charconv>
#include <limits>

#include "meshq/coding.h"

namespace meshq::agent::dubbo {
namespace {

constexpr std::uint8_t kStatusOk = static_cast<std::uint8_t>(ResponseStatus::kOk);

// Reserves the header, returns its offset; FinishFrame patches the body length in afterwards.
std::size_t BeginFrame(const Header& h, std::string* out) {
  const std::size_t at = out->size();
  out->resize(at + kHeaderSize);
  EncodeHeader(h, out->data() + at);
  return at;
}
void FinishFrame(std::size_t at, std::string* out) {
  EncodeBigEndian32(out->data() + at + 12,
                    static_cast<std::uint32_t>(out->size() - at - kHeaderSize));
}

// The next single parameter descriptor in `d` starting at *pos ("[I", "Ljava/lang/String;").
bool NextDescriptor(std::string_view d, std::size_t* pos, std::string_view* one) {
  const std::size_t start = *pos;
  std::size_t i = start;
  while (i < d.size() && d[i] == '[') ++i;
  if (i >= d.size()) return false;
  switch (d[i]) {
    case 'Z':
    case 'B':
    case 'C':
    case 'S':
    case 'I':
    case 'J':
    case 'F':
    case 'D':
      ++i;
      break;
    case 'L': {
      const std::size_t semi = d.find(';', i);
      if (semi == std::string_view::npos || semi == i + 1) return false;
      i = semi + 1;
      break;
    }
    default:
      return false;
  }
  *one = d.substr(start, i - start);
  *pos = i;
  return true;
}

template <typename T, typename Write>
Status WriteNumber(std::string_view text, const char* java_type, Write write) {
  T v;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty()) {
    return Status::InvalidArgument("dubbo: not " + std::string(java_type) + ": " +
                                   std::string(text));
  }
  write(v);
  return Status::OK();
}

Status WriteArgument(std::string_view type, std::string_view text, hessian2::Writer* w) {
  if (type == "Ljava/lang/String;") return w->WriteString(text);
  if (type == "I" || type == "Ljava/lang/Integer;") {
    return WriteNumber<std::int32_t>(text, "an int", [w](std::int32_t v) { w->WriteInt(v); });
  }
  if (type == "J" || type == "Ljava/lang/Long;") {
    return WriteNumber<std::int64_t>(text, "a long", [w](std::int64_t v) { w->WriteLong(v); });
  }
  if (type == "Z" || type == "Ljava/lang/Boolean;") {
    if (text != "true" && text != "false") {
      return Status::InvalidArgument("dubbo: not a boolean: " + std::string(text));
    }
    w->WriteBool(text == "true");
    return Status::OK();
  }
  return Status::InvalidArgument("dubbo: unsupported parameter type " + std::string(type));
}

Status BodyError(const hessian2::Reader& r, DecodeState st, std::string_view what) {
  if (st == DecodeState::kNeedMore) {
    return Status::Corruption("dubbo " + std::string(what) + ": body ends early");
  }
  return Status::Corruption("dubbo " + std::string(what) + ": " + std::string(r.error().message()));
}

#define MESHQ_DUBBO_READ(reader, expr, what)                          \
  do {                                                                \
    const DecodeState st_ = (expr);                                   \
    if (st_ != DecodeState::kOk) return BodyError(reader, st_, what); \
  } while (0)

// Appends a response frame whose body `write_body` produces; on its error nothing is appended.
template <typename WriteBody>
Status AppendResponseFrame(std::uint64_t id, std::uint8_t status, std::string* out,
                           WriteBody write_body) {
  const std::size_t start = out->size();
  Header h;
  h.flags = kHessian2;
  h.status = status;
  h.id = id;
  BeginFrame(h, out);
  hessian2::Writer w(out);
  Status st = write_body(w);
  if (!st.ok()) {
    out->resize(start);
    return st;
  }
  FinishFrame(start, out);
  return Status::OK();
}

}  // namespace

const char* ResponseStatusName(std::uint8_t status) {
  switch (static_cast<ResponseStatus>(status)) {
    case ResponseStatus::kOk:
      return "OK";
    case ResponseStatus::kClientTimeout:
      return "client timeout";
    case ResponseStatus::kServerTimeout:
      return "server timeout";
    case ResponseStatus::kBadRequest:
      return "bad request";
    case ResponseStatus::kBadResponse:
      return "bad response";
    case ResponseStatus::kServiceNotFound:
      return "service not found";
    case ResponseStatus::kServiceError:
      return "service error";
    case ResponseStatus::kServerError:
      return "server error";
    case ResponseStatus::kClientError:
      return "client error";
    case ResponseStatus::kServerThreadpoolExhausted:
      return "server threadpool exhausted";
  }
  return "unknown status";
}

void EncodeHeader(const Header& h, char* out) {
  EncodeBigEndian16(out, kMagic);
  out[2] = static_cast<char>(h.flags);
  out[3] = static_cast<char>(h.status);
  EncodeBigEndian64(out + 4, h.id);
  EncodeBigEndian32(out + 12, h.body_length);
}

DecodeResult<Frame> DecodeFrame(std::string_view in, std::size_t max_body) {
  // Reject a wrong magic as early as its bytes arrive: a non-Dubbo peer fails fast.
  if (!in.empty() && static_cast<unsigned char>(in[0]) != (kMagic >> 8)) {
    return DecodeResult<Frame>::Error(Status::Corruption("dubbo: bad magic"));
  }
  if (in.size() >= 2 && DecodeBigEndian16(in.data()) != kMagic) {
    return DecodeResult<Frame>::Error(Status::Corruption("dubbo: bad magic"));
  }
  if (in.size() < kHeaderSize) return DecodeResult<Frame>::NeedMore();
  Frame f;
  f.header.flags = static_cast<std::uint8_t>(in[2]);
  f.header.status = static_cast<std::uint8_t>(in[3]);
  f.header.id = DecodeBigEndian64(in.data() + 4);
  f.header.body_length = DecodeBigEndian32(in.data() + 12);
  if (f.header.serialization() != kHessian2) {
    return DecodeResult<Frame>::Error(Status::Corruption("dubbo: unsupported serialization id " +
                                                         std::to_string(f.header.serialization())));
  }
  if (f.header.body_length > max_body) {
    return DecodeResult<Frame>::Error(
        Status::Corruption("dubbo: body of " + std::to_string(f.header.body_length) +
                           " bytes exceeds limit " + std::to_string(max_body)));
  }
  const std::size_t total = kHeaderSize + f.header.body_length;
  if (in.size() < total) return DecodeResult<Frame>::NeedMore();
  f.body = in.substr(kHeaderSize, f.header.body_length);
  return DecodeResult<Frame>::Ok(f, total);
}

Status CountParameters(std::string_view descriptor, std::size_t* count) {
  std::size_t n = 0, pos = 0;
  std::string_view one;
  while (pos < descriptor.size()) {
    if (!NextDescriptor(descriptor, &pos, &one)) {
      return Status::InvalidArgument("dubbo: malformed parameter descriptor '" +
                                     std::string(descriptor) + "'");
    }
    ++n;
  }
  *count = n;
  return Status::OK();
}

Status AppendRequest(std::uint64_t id, const Call& call, std::string* out) {
  const std::size_t start = out->size();
  Header h;
  h.flags = kFlagRequest | kFlagTwoWay | kHessian2;
  h.id = id;
  BeginFrame(h, out);
  hessian2::Writer w(out);
  auto fail = [&](Status s) {
    out->resize(start);
    return s;
  };
  for (std::string_view s : {call.dubbo_version, call.service, call.service_version, call.method,
                             call.parameter_types}) {
    Status st = w.WriteString(s);
    if (!st.ok()) return fail(st);
  }
  std::size_t pos = 0, i = 0;
  std::string_view type;
  while (pos < call.parameter_types.size()) {
    if (!NextDescriptor(call.parameter_types, &pos, &type)) {
      return fail(Status::InvalidArgument("dubbo: malformed parameter descriptor '" +
                                          std::string(call.parameter_types) + "'"));
    }
    if (i >= call.arguments.size()) {
      return fail(Status::InvalidArgument("dubbo: fewer arguments than parameter types"));
    }
    Status st = WriteArgument(type, call.arguments[i++], &w);
    if (!st.ok()) return fail(st);
  }
  if (i != call.arguments.size()) {
    return fail(Status::InvalidArgument("dubbo: more arguments than parameter types"));
  }
  // Attachments Dubbo's own consumer always sends: path, interface, version.
  out->push_back('H');
  for (auto [k, v] : {std::pair<std::string_view, std::string_view>{"path", call.service},
                      {"interface", call.service},
                      {"version", call.service_version}}) {
    if (v.empty()) continue;
    Status st = w.WriteString(k);
    if (st.ok()) st = w.WriteString(v);
    if (!st.ok()) return fail(st);
  }
  out->push_back('Z');
  FinishFrame(start, out);
  return Status::OK();
}

void AppendHeartbeat(std::uint64_t id, bool is_request, std::string* out) {
  Header h;
  h.flags = kFlagEvent | kHessian2 | (is_request ? kFlagRequest | kFlagTwoWay : 0);
  h.status = is_request ? 0 : kStatusOk;
  h.id = id;
  h.body_length = 1;
  char buf[kHeaderSize + 1];
  EncodeHeader(h, buf);
  buf[kHeaderSize] = 'N';  // heartbeat data is a hessian2 null
  out->append(buf, sizeof buf);
}

Status DecodeInvocation(std::string_view body, Invocation* out) {
  hessian2::Reader r(body);
  for (std::string* s : {&out->dubbo_version, &out->service, &out->service_version, &out->method,
                         &out->parameter_types}) {
    MESHQ_DUBBO_READ(r, r.ReadString(s, /*null_ok=*/true), "request");
  }
  std::size_t n;
  Status st = CountParameters(out->parameter_types, &n);
  if (!st.ok()) return st;
  out->arguments.resize(n);
  for (auto& arg : out->arguments) MESHQ_DUBBO_READ(r, r.ReadValue(&arg), "request argument");
  out->attachments.clear();
  if (!r.AtEnd()) MESHQ_DUBBO_READ(r, r.ReadStringMap(&out->attachments), "request attachments");
  if (!r.AtEnd()) return Status::Corruption("dubbo request: trailing bytes after attachments");
  return Status::OK();
}

bool SupportsResponseAttachments(std::string_view v) {
  // Dubbo's Version.getIntVersion: two decimal digits per dotted part, e.g. 2.0.2 -> 2000200.
  int parts[4] = {0, 0, 0, 0};
  int n = 0;
  std::size_t pos = 0;
  while (pos <= v.size() && n < 4) {
    const std::size_t dot = std::min(v.find('.', pos), v.size());
    int value = 0;
    std::size_t i = pos;
    while (i < dot && v[i] >= '0' && v[i] <= '9' && value < 100)
      value = value * 10 + (v[i++] - '0');
    if (i == pos) return false;
    parts[n++] = value;
    pos = dot + 1;
  }
  if (n < 3) return false;
  const int iv = parts[0] * 1000000 + parts[1] * 10000 + parts[2] * 100 + parts[3];
  return iv >= 2000200 && iv <= 2009900;
}

Status AppendValueResponse(std::uint64_t id, const hessian2::Value& value,
                           const Attachments* attachments, std::string* out) {
  return AppendResponseFrame(id, kStatusOk, out, [&](hessian2::Writer& w) {
    const bool null = value.kind == hessian2::Value::Kind::kNull;
    ResponseType type = null ? ResponseType::kNullValue : ResponseType::kValue;
    if (attachments) {
      type = null ? ResponseType::kNullValueWithAttachments : ResponseType::kValueWithAttachments;
    }
    w.WriteInt(static_cast<std::int32_t>(type));  // Dubbo writes the type byte as a hessian2 int
    Status st = null ? Status::OK() : w.WriteValue(value);
    if (st.ok() && attachments) st = w.WriteStringMap(*attachments);
    return st;
  });
}

Status AppendExceptionResponse(std::uint64_t id, std::string_view exception_class,
                               std::string_view message, const Attachments* attachments,
                               std::string* out) {
  return AppendResponseFrame(id, kStatusOk, out, [&](hessian2::Writer& w) {
    w.WriteInt(static_cast<std::int32_t>(attachments ? ResponseType::kWithExceptionWithAttachments
                                                     : ResponseType::kWithException));
    // The shape Java's serializer gives a Throwable: cause refers back to the object itself
    // (reference 0: the first container in the body), empty stack trace and suppressed list.
    hessian2::Value self_ref;
    self_ref.kind = hessian2::Value::Kind::kRef;
    hessian2::Value trace;
    trace.kind = hessian2::Value::Kind::kList;
    trace.text = "[java.lang.StackTraceElement";
    hessian2::Value suppressed;
    suppressed.kind = hessian2::Value::Kind::kList;
    Status st = w.WriteObject(exception_class,
                              {"detailMessage", "cause", "stackTrace", "suppressedExceptions"},
                              {hessian2::Value::String(message), self_ref, trace, suppressed});
    if (st.ok() && attachments) st = w.WriteStringMap(*attachments);
    return st;
  });
}

Status AppendThrowableResponse(std::uint64_t id, const hessian2::Value& throwable,
                               const Attachments* attachments, std::string* out) {
  return AppendResponseFrame(id, kStatusOk, out, [&](hessian2::Writer& w) {
    w.WriteInt(static_cast<std::int32_t>(attachments ? ResponseType::kWithExceptionWithAttachments
                                                     : ResponseType::kWithException));
    Status st = w.WriteValue(throwable);
    if (st.ok() && attachments) st = w.WriteStringMap(*attachments);
    return st;
  });
}

Status AppendErrorResponse(std::uint64_t id, ResponseStatus status, std::string_view message,
                           std::string* out) {
  return AppendResponseFrame(id, static_cast<std::uint8_t>(status), out,
                             [&](hessian2::Writer& w) { return w.WriteString(message); });
}

Status DecodeResponse(const Frame& frame, Response* out, bool want_attachments) {
  const Header& h = frame.header;
  if (h.is_request() || h.is_event()) {
    return Status::InvalidArgument("dubbo: DecodeResponse needs a non-event response frame");
  }
  out->id = h.id;
  out->status = h.status;
  out->value = hessian2::Value();
  out->message.clear();
  out->attachments.clear();
  hessian2::Reader r(frame.body);
  if (h.status != kStatusOk) {
    out->outcome = Response::Outcome::kError;
    MESHQ_DUBBO_READ(r, r.ReadString(&out->message, /*null_ok=*/true), "error response");
    if (out->message.empty()) out->message = ResponseStatusName(h.status);
    return Status::OK();
  }
  std::int32_t type;
  MESHQ_DUBBO_READ(r, r.ReadInt(&type), "response type");
  bool attachments = false;
  switch (static_cast<ResponseType>(type)) {
    case ResponseType::kValueWithAttachments:
      attachments = true;
      [[fallthrough]];
    case ResponseType::kValue:
      out->outcome = Response::Outcome::kValue;
      MESHQ_DUBBO_READ(r, r.ReadValue(&out->value), "response value");
      break;
    case ResponseType::kNullValueWithAttachments:
      attachments = true;
      [[fallthrough]];
    case ResponseType::kNullValue:
      out->outcome = Response::Outcome::kNull;
      break;
    case ResponseType::kWithExceptionWithAttachments:
      attachments = true;
      [[fallthrough]];
    case ResponseType::kWithException:
      out->outcome = Response::Outcome::kException;
      MESHQ_DUBBO_READ(r, r.ReadValue(&out->value), "response exception");
      out->message = hessian2::ToText(out->value);
      if (r.cut()) {
        out->message += " [exception object nested deeper than " +
                        std::to_string(hessian2::Reader::kMaxKeptDepth) +
                        " levels: the deeper levels were cut]";
      }
      break;
    default:
      return Status::Corruption("dubbo response: unknown response type " + std::to_string(type));
  }
  if (attachments) {
    if (want_attachments) {
      MESHQ_DUBBO_READ(r, r.ReadStringMap(&out->attachments), "response attachments");
    } else {
      MESHQ_DUBBO_READ(r, r.Skip(), "response attachments");
    }
  }
  if (!r.AtEnd()) return Status::Corruption("dubbo response: trailing bytes in body");
  return Status::OK();
}

std::string ResponseText(const Response& r) {
  switch (r.outcome) {
    case Response::Outcome::kValue:
      return hessian2::ToText(r.value);
    case Response::Outcome::kNull:
      return "null";
    case Response::Outcome::kException:
    case Response::Outcome::kError:
      return r.message;
  }
  return r.message;
}

#undef MESHQ_DUBBO_READ

}  // namespace meshq::agent::dubbo
