// ProviderEndpoint: one provider-agent as published in the registry (etcd key -> JSON value).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace meshq::agent {

struct ProviderEndpoint {
  std::string key;      // registry key, unique per endpoint: <prefix><service>/<host>:<port>
  std::string service;  // Dubbo interface served, e.g. com.alibaba...IHelloService
  std::string host;     // where the provider-agent accepts agent connections
  uint16_t port = 0;
  int weight = 1;  // declared capacity (relative); always >= 1

  std::string address() const { return host + ":" + std::to_string(port); }
  // The registry key for this endpoint under `prefix` (which ends with '/').
  std::string RegistryKey(std::string_view prefix) const;
  // JSON: {"service":"...","address":"host:port","weight":W}.
  std::string ToRegistryValue() const;
  // Parses a registry value; false when it is not a valid endpoint description.
  static bool FromRegistryValue(std::string_view key, std::string_view value,
                                ProviderEndpoint* out);
};

// Splits "host:port" (port 0..65535); false when malformed.
bool SplitHostPort(std::string_view address, std::string* host, uint16_t* port);

}  // namespace meshq::agent
