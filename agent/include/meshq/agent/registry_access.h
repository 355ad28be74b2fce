// RegistryAccess: how an agent proves itself to a secured etcd (docs/SECURITY.md, "Agents and the
// registry"): TLS with a client certificate for an https:// endpoint, and an etcd user.
#pragma once

#include <string>
#include <string_view>

#include "meshq/status.h"
#include "meshq/tls.h"

namespace meshq::agent {

struct RegistryAccess {
  // For an https:// endpoint: etcd's certificate must verify against tls.ca_file (the system's
  // trust store when empty) and carry the endpoint's host (or tls.server_name); tls.cert_file is
  // presented to an etcd started with --client-cert-auth. Must be empty for http://.
  // etcd's HTTP gateway, which the agents use, refuses a certificate with a subject CN once auth
  // is on: the registry certificate carries none (tools/etcd.sh --tls makes one).
  TlsClientOptions tls;
  // The etcd user the agent authenticates as (an etcd token per connection); empty: no etcd auth.
  std::string user;
  std::string password;
};

// Whether `endpoint` and `access` go together, and the certificate files load: InvalidArgument
// naming the problem (TLS options for an http:// endpoint, a user without password, a missing,
// unreadable, expired or mismatched certificate or key).
Status CheckRegistryAccess(std::string_view endpoint, const RegistryAccess& access);

}  // namespace meshq::agent
