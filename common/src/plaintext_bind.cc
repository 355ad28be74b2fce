// CheckPlaintextBind: the loopback test behind --insecure-plaintext.
#include "meshq/plaintext_bind.h"

#include <boost/asio/ip/address.hpp>
#include <string>

namespace meshq {

Status CheckPlaintextBind(std::string_view server, std::string_view host,
                          std::string_view tls_flags, bool insecure_plaintext) {
  boost::system::error_code ec;
  const boost::asio::ip::address address = boost::asio::ip::make_address(host, ec);
  if (ec) {
    return Status::InvalidArgument(std::string(server) + ": bad bind address " + std::string(host));
  }
  if (address.is_loopback() || insecure_plaintext) return Status::OK();
  return Status::InvalidArgument(std::string(server) + ": refusing to serve plaintext on " +
                                 std::string(host) + ", which is not a loopback address: give " +
                                 std::string(tls_flags) + ", or --insecure-plaintext");
}

}  // namespace meshq
