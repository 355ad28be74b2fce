// Audit of request-reply traffic: reads a service's stored request queue and the reply queues
// its requests name, through a broker, pairs each request with its reply by correlation id, and
// reports counts, the latency distribution and every unanswered or late call.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace meshq::bridge {

// Runs `meshq audit` with its arguments (without the program and subcommand names):
//   --broker HOST:PORT --service S [--since UNIX_SECONDS] [--limit N] [--calls]
//   [--verify --audit-key FILE]
//   [--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME]]
// Writes the report to `out` (with the caller and responder identities the broker stamped),
// usage and errors to `err`. Returns the process exit code: 0 all calls answered in time, each
// handed to at most one responder with one reply (and with --verify the audit chain of every
// queue read intact); 1 some unanswered, late, handed to two responders, with two different
// replies, or a chain broken; 2 bad usage, a bad key or TLS file, or broker unreachable.
int RunAudit(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace meshq::bridge
