// Faults: parsing the per-call fault parameters and building their answers.
#include "faults.h"

#include <charconv>

namespace meshq::provider_sim {

namespace hessian2 = agent::hessian2;

namespace {

bool ParseCount(std::string_view text, std::size_t* n) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *n);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

// A java.lang.IllegalStateException shaped as Java's serializer writes a Throwable, whose cause
// is the next level down; the last level has no cause.
hessian2::Value ExceptionChain(std::size_t depth) {
  hessian2::Value cause;  // null
  for (std::size_t level = depth; level-- > 0;) {
    hessian2::Value trace;
    trace.kind = hessian2::Value::Kind::kList;
    trace.text = "[java.lang.StackTraceElement";
    hessian2::Value suppressed;
    suppressed.kind = hessian2::Value::Kind::kList;
    hessian2::Value e;
    e.kind = hessian2::Value::Kind::kObject;
    e.text = "java.lang.IllegalStateException";
    e.field_names = {"detailMessage", "cause", "stackTrace", "suppressedExceptions"};
    e.items = {hessian2::Value::String("fault level " + std::to_string(level) + " of " +
                                       std::to_string(depth)),
               std::move(cause), std::move(trace), std::move(suppressed)};
    cause = std::move(e);
  }
  return cause;
}

}  // namespace

FaultCall ParseFaultParameter(std::string_view p) {
  FaultCall f;
  constexpr std::string_view kBytes = "fault:answer-bytes:";
  constexpr std::string_view kDepth = "fault:exception-depth:";
  if (p == "fault:close") {
    f.kind = FaultCall::Kind::kClose;
  } else if (p.starts_with(kBytes) && ParseCount(p.substr(kBytes.size()), &f.n)) {
    f.kind = FaultCall::Kind::kAnswerBytes;
  } else if (p.starts_with(kDepth) && ParseCount(p.substr(kDepth.size()), &f.n) && f.n > 0) {
    f.kind = FaultCall::Kind::kExceptionDepth;
  }
  return f;
}

Status AppendFaultAnswer(std::uint64_t id, const FaultCall& fault,
                         const agent::dubbo::Attachments* attachments, std::string* out) {
  switch (fault.kind) {
    case FaultCall::Kind::kAnswerBytes:
      return agent::dubbo::AppendValueResponse(
          id, hessian2::Value::String(std::string(fault.n, 'x')), attachments, out);
    case FaultCall::Kind::kExceptionDepth:
      return agent::dubbo::AppendThrowableResponse(id, ExceptionChain(fault.n), attachments, out);
    case FaultCall::Kind::kNone:
    case FaultCall::Kind::kClose:
      break;
  }
  return Status::InvalidArgument("fault without an answer");
}

}  // namespace meshq::provider_sim
