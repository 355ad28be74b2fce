// HelloService: what the reference provider answers for one decoded Dubbo invocation of
// com.alibaba.dubbo.performance.demo.provider.IHelloService.hash(String).
#pragma once

#include <cstdint>
#include <string>

#include "dubbo_codec.h"

namespace meshq::provider_sim {

inline constexpr const char* kHelloService =
    "com.alibaba.dubbo.performance.demo.provider.IHelloService";

// Appends the complete response frame for request `id` to *out, as a Dubbo provider would:
// the int hash (with attachments when the consumer's dubbo version expects them), an exception
// response for an unknown method or bad argument, or SERVICE_ERROR for an unknown service.
// Returns true when the call is a real `hash` invocation (it then counts as a simulated call).
bool AnswerInvocation(std::uint64_t id, const agent::dubbo::Invocation& inv, std::string* out);

}  // namespace meshq::provider_sim
