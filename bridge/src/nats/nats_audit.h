// The audit (meshq audit --mq-url nats://...) over a NATS JetStream cluster: reads a service's
// requests from the request stream and every reply from the reply stream, pairs them by
// request id and reports as the broker's audit does (docs/nats-backend.md, "Audit").
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "meshq/bridge/rpc_backend.h"

namespace meshq::bridge::nats {

// Exit code as RunAudit's: 0 all answered in time with one reply each, 1 some not, 2 the
// cluster unreachable.
int RunNatsAudit(const NatsConfig& config, const std::string& service, uint64_t since_us,
                 size_t limit, std::ostream& out, std::ostream& err);

}  // namespace meshq::bridge::nats
