// Audit of request-reply traffic: reads a service's stored request queue and the reply queues
// its requests name, through a broker, pairs each request with its reply by correlation id, and
// reports counts, the latency distribution and every unanswered or late call.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace meshq::bridge {

// Runs `meshq audit` with its arguments (without the program and subcommand names):
//   --broker HOST:PORT --service S [--since UNIX_SECONDS] [--limit N]
//   [--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME]]
// Writes the report to `out`, usage and errors to `err`. Returns the process exit code:
// 0 all calls answered in time, each handed to at most one responder with one reply; 1 some
// unanswered, late, handed to two responders or with two different replies; 2 bad usage, a TLS
// file it cannot use, or broker unreachable.
int RunAudit(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace meshq::bridge
