// Registry encoding of a provider endpoint; JSON so that etcdctl shows it readably.
#include "meshq/agent/provider_endpoint.h"

#include <boost/json.hpp>
#include <charconv>

namespace meshq::agent {

bool SplitHostPort(std::string_view address, std::string* host, uint16_t* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view p = address.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || end != p.data() + p.size() || p.empty() || value > 65535) return false;
  *host = std::string(address.substr(0, colon));
  *port = static_cast<uint16_t>(value);
  return true;
}

std::string ProviderEndpoint::RegistryKey(std::string_view prefix) const {
  return std::string(prefix) + service + "/" + address();
}

std::string ProviderEndpoint::ToRegistryValue() const {
  return boost::json::serialize(
      boost::json::object{{"service", service}, {"address", address()}, {"weight", weight}});
}

bool ProviderEndpoint::FromRegistryValue(std::string_view key, std::string_view value,
                                         ProviderEndpoint* out) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(value, ec);
  if (ec || !v.is_object()) return false;
  const boost::json::object& o = v.as_object();
  const boost::json::value* service = o.if_contains("service");
  const boost::json::value* address = o.if_contains("address");
  const boost::json::value* weight = o.if_contains("weight");
  if (service == nullptr || !service->is_string() || address == nullptr || !address->is_string()) {
    return false;
  }
  ProviderEndpoint ep;
  ep.key = std::string(key);
  ep.service = std::string(service->as_string());
  if (!SplitHostPort(address->as_string(), &ep.host, &ep.port)) return false;
  if (weight != nullptr && weight->is_int64()) {
    ep.weight =
        static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(weight->as_int64(), 1 << 20)));
  }
  *out = std::move(ep);
  return true;
}

}  // namespace meshq::agent
