// The one rule of every meshq server that can speak TLS (the broker, the provider-agent's agent
// port): plaintext is served on a loopback address only, unless the operator says otherwise.
#pragma once

#include <string_view>

#include "meshq/status.h"

namespace meshq {

// OK when `host` (an IP literal) is a loopback address or `insecure_plaintext` is set;
// otherwise InvalidArgument "<server>: refusing to serve plaintext on <host>, which is not a
// loopback address: give <tls_flags>, or --insecure-plaintext". InvalidArgument too when `host`
// is not an IP address. Call it only for a server that will serve plaintext.
Status CheckPlaintextBind(std::string_view server, std::string_view host,
                          std::string_view tls_flags, bool insecure_plaintext);

}  // namespace meshq
