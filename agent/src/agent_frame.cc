// Agent-to-agent frame codec and per-connection service interning. Layout: docs/agent-protocol.md.
#include "agent_frame.h"

#include "meshq/coding.h"

namespace meshq::agent::frame {
namespace {

constexpr std::size_t kRequestFixed = 8 + 4 + 2;  // id, deadline, service ref
constexpr std::size_t kResponseFixed = 8 + 1;     // id, status

// Appends the length field and type byte for a frame whose payload is `payload` bytes long.
void AppendFrameHeader(Type type, std::size_t payload, std::string* out) {
  PutBigEndian32(out, static_cast<std::uint32_t>(1 + payload));
  out->push_back(static_cast<char>(type));
}

void AppendNonceFrame(Type type, std::uint64_t nonce, std::string* out) {
  AppendFrameHeader(type, 8, out);
  PutBigEndian64(out, nonce);
}

// Reads "u16 length + bytes" at *p within [*p, end); false when it does not fit.
bool ReadShortString(const char** p, const char* end, std::string_view* s) {
  if (end - *p < 2) return false;
  const std::size_t n = DecodeBigEndian16(*p);
  if (static_cast<std::size_t>(end - *p - 2) < n) return false;
  *s = std::string_view(*p + 2, n);
  *p += 2 + n;
  return true;
}

DecodeResult<Frame> Bad(std::string_view what) {
  return DecodeResult<Frame>::Error(Status::Corruption("agent frame: " + std::string(what)));
}

}  // namespace

const char* ResponseStatusName(ResponseStatus s) {
  switch (s) {
    case ResponseStatus::kOk:
      return "ok";
    case ResponseStatus::kProviderError:
      return "provider error";
    case ResponseStatus::kTimeout:
      return "timeout";
    case ResponseStatus::kUnavailable:
      return "unavailable";
    case ResponseStatus::kBadRequest:
      return "bad request";
    case ResponseStatus::kOverloaded:
      return "overloaded";
    case ResponseStatus::kLost:
      return "lost";
    case ResponseStatus::kTooLarge:
      return "too large";
  }
  return "unknown";
}

void AppendServiceDef(std::uint16_t ref, std::string_view interface_name, std::string_view method,
                      std::string_view parameter_types, std::string* out) {
  // Each string is capped at 64 KiB - 1 by its u16 length; longer names are not Java names.
  auto cap = [](std::string_view s) { return s.substr(0, 0xFFFF); };
  interface_name = cap(interface_name), method = cap(method),
  parameter_types = cap(parameter_types);
  AppendFrameHeader(Type::kServiceDef,
                    2 + 6 + interface_name.size() + method.size() + parameter_types.size(), out);
  PutBigEndian16(out, ref);
  for (std::string_view s : {interface_name, method, parameter_types}) {
    PutBigEndian16(out, static_cast<std::uint16_t>(s.size()));
    out->append(s);
  }
}

void AppendRequest(std::uint64_t id, std::uint16_t service_ref, std::uint32_t deadline_ms,
                   std::string_view parameter, std::string* out) {
  AppendFrameHeader(Type::kRequest, kRequestFixed + parameter.size(), out);
  PutBigEndian64(out, id);
  PutBigEndian32(out, deadline_ms);
  PutBigEndian16(out, service_ref);
  out->append(parameter);
}

void AppendResponse(std::uint64_t id, ResponseStatus status, std::string_view result,
                    std::string* out) {
  AppendFrameHeader(Type::kResponse, kResponseFixed + result.size(), out);
  PutBigEndian64(out, id);
  out->push_back(static_cast<char>(status));
  out->append(result);
}

void AppendPing(std::uint64_t nonce, std::string* out) {
  AppendNonceFrame(Type::kPing, nonce, out);
}
void AppendPong(std::uint64_t nonce, std::string* out) {
  AppendNonceFrame(Type::kPong, nonce, out);
}
void AppendGoAway(std::string* out) { AppendFrameHeader(Type::kGoAway, 0, out); }

DecodeResult<Frame> DecodeFrame(std::string_view in, std::size_t max_frame) {
  if (in.size() < kLengthSize) return DecodeResult<Frame>::NeedMore();
  const std::size_t len = DecodeBigEndian32(in.data());
  if (len == 0) return Bad("empty frame");
  if (len > max_frame) {
    return Bad("frame of " + std::to_string(len) + " bytes exceeds limit " +
               std::to_string(max_frame));
  }
  // The type byte alone already tells a garbage stream apart; check it before waiting for more.
  if (in.size() > kLengthSize) {
    const auto t = static_cast<unsigned char>(in[kLengthSize]);
    if (t < static_cast<unsigned char>(Type::kServiceDef) ||
        t > static_cast<unsigned char>(Type::kGoAway)) {
      return Bad("unknown frame type " + std::to_string(t));
    }
  }
  if (in.size() < kLengthSize + len) return DecodeResult<Frame>::NeedMore();
  Frame f;
  f.type = static_cast<Type>(in[kLengthSize]);
  const char* p = in.data() + kLengthSize + 1;
  const char* end = in.data() + kLengthSize + len;
  const std::size_t payload = len - 1;
  switch (f.type) {
    case Type::kServiceDef:
      if (payload < 2) return Bad("short service definition");
      f.service_ref = DecodeBigEndian16(p);
      p += 2;
      if (!ReadShortString(&p, end, &f.interface_name) || !ReadShortString(&p, end, &f.method) ||
          !ReadShortString(&p, end, &f.parameter_types) || p != end) {
        return Bad("malformed service definition");
      }
      break;
    case Type::kRequest:
      if (payload < kRequestFixed) return Bad("short request");
      f.id = DecodeBigEndian64(p);
      f.deadline_ms = DecodeBigEndian32(p + 8);
      f.service_ref = DecodeBigEndian16(p + 12);
      f.payload = std::string_view(p + kRequestFixed, payload - kRequestFixed);
      break;
    case Type::kResponse: {
      if (payload < kResponseFixed) return Bad("short response");
      f.id = DecodeBigEndian64(p);
      const auto status = static_cast<unsigned char>(p[8]);
      if (status > static_cast<unsigned char>(ResponseStatus::kTooLarge)) {
        return Bad("unknown response status " + std::to_string(status));
      }
      f.status = static_cast<ResponseStatus>(status);
      f.payload = std::string_view(p + kResponseFixed, payload - kResponseFixed);
      break;
    }
    case Type::kPing:
    case Type::kPong:
      if (payload != 8) return Bad("ping/pong payload must be 8 bytes");
      f.id = DecodeBigEndian64(p);
      break;
    case Type::kGoAway:
      if (payload != 0) return Bad("go-away carries no payload");
      break;
  }
  return DecodeResult<Frame>::Ok(f, kLengthSize + len);
}

Status ServiceInterner::Intern(std::string_view interface_name, std::string_view method,
                               std::string_view parameter_types, std::string* out,
                               std::uint16_t* ref) {
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    const ServiceKey& k = keys_[i];
    if (k.interface_name == interface_name && k.method == method &&
        k.parameter_types == parameter_types) {
      *ref = static_cast<std::uint16_t>(i);
      return Status::OK();
    }
  }
  if (keys_.size() > 0xFFFF) return Status::Busy("agent frame: 65536 services on one connection");
  if (interface_name.size() > 0xFFFF || method.size() > 0xFFFF || parameter_types.size() > 0xFFFF) {
    return Status::InvalidArgument("agent frame: service name longer than 65535 bytes");
  }
  *ref = static_cast<std::uint16_t>(keys_.size());
  keys_.push_back(
      ServiceKey{std::string(interface_name), std::string(method), std::string(parameter_types)});
  AppendServiceDef(*ref, interface_name, method, parameter_types, out);
  return Status::OK();
}

Status ServiceTable::Define(const Frame& f) {
  if (f.type != Type::kServiceDef) {
    return Status::InvalidArgument("agent frame: not a service definition");
  }
  if (f.service_ref >= keys_.size()) {
    keys_.resize(f.service_ref + 1u);
    defined_.resize(f.service_ref + 1u, false);
  }
  ServiceKey& k = keys_[f.service_ref];
  if (defined_[f.service_ref]) {
    if (k.interface_name == f.interface_name && k.method == f.method &&
        k.parameter_types == f.parameter_types) {
      return Status::OK();
    }
    return Status::InvalidArgument("agent frame: service ref " + std::to_string(f.service_ref) +
                                   " redefined");
  }
  k = ServiceKey{std::string(f.interface_name), std::string(f.method),
                 std::string(f.parameter_types)};
  defined_[f.service_ref] = true;
  return Status::OK();
}

const ServiceKey* ServiceTable::Find(std::uint16_t ref) const {
  return ref < keys_.size() && defined_[ref] ? &keys_[ref] : nullptr;
}

}  // namespace meshq::agent::frame
