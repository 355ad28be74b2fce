// HelloService: IHelloService.hash(String) -> Java String.hashCode(), and Dubbo's error shapes.
#include "hello_service.h"

#include "java_hash.h"

namespace meshq::provider_sim {

namespace dubbo = agent::dubbo;
namespace hessian2 = agent::hessian2;

bool AnswerInvocation(std::uint64_t id, const dubbo::Invocation& inv, std::string* out) {
  const dubbo::Attachments att = {{"dubbo", "2.0.2"}};
  const dubbo::Attachments* attachments =
      dubbo::SupportsResponseAttachments(inv.dubbo_version) ? &att : nullptr;
  if (inv.service != kHelloService) {
    // Dubbo answers a call to a service it does not export with SERVICE_ERROR and a message.
    (void)dubbo::AppendErrorResponse(
        id, dubbo::ResponseStatus::kServiceError,
        "Not found exported service: " + inv.service + ":" + inv.service_version, out);
    return false;
  }
  if (inv.method != "hash" || inv.parameter_types != "Ljava/lang/String;") {
    (void)dubbo::AppendExceptionResponse(
        id, "java.lang.NoSuchMethodException",
        "No such method " + inv.method + "(" + inv.parameter_types + ") in " + inv.service,
        attachments, out);
    return false;
  }
  const hessian2::Value& arg = inv.arguments.at(0);
  if (arg.kind != hessian2::Value::Kind::kString) {
    (void)dubbo::AppendExceptionResponse(id, "java.lang.NullPointerException",
                                         "hash(String) called with a non-string argument",
                                         attachments, out);
    return false;
  }
  std::int32_t hash = 0;
  // The hessian2 reader only produces valid UTF-8, so this cannot fail.
  (void)agent::JavaStringHash(arg.text, &hash);
  (void)dubbo::AppendValueResponse(id, hessian2::Value::Int(hash), attachments, out);
  return true;
}

}  // namespace meshq::provider_sim
