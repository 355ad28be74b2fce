// EtcdClient: a small blocking client for etcd v3 over its JSON/HTTP gateway (/v3/...), enough for
// a service registry: leases, put/delete, prefix range and a streaming prefix watch.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ssl/context.hpp>
#include <boost/json/object.hpp>

#include "meshq/agent/registry_access.h"
#include "meshq/status.h"

namespace meshq::agent {

struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t mod_revision = 0;
};

struct EtcdEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  EtcdKeyValue kv;  // for kDelete only key and mod_revision are set
};

// Not thread-safe except Cancel(): each thread that talks to etcd owns its own EtcdClient.
// Failures are IOError/Unavailable statuses named "etcd <op>: <reason>" (etcd's own reason when it
// refused, e.g. "etcdserver: permission denied"). Unary calls give up after 3 s (a hung etcd must
// not hang the agent).
class EtcdClient {
 public:
  // `endpoint` is "http://host:port", "host:port" or "https://host:port" (TLS with
  // access.tls). With access.user set, every call carries an etcd token for that user, got with
  // its password on the connection's first call (and again when etcd says it expired). Options
  // that CheckRegistryAccess refuses make every call fail with its reason.
  explicit EtcdClient(std::string_view endpoint, const RegistryAccess& access = {});
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // Grants a lease of `ttl_seconds`; *lease_id receives its id.
  Status GrantLease(int ttl_seconds, int64_t* lease_id);
  // Refreshes a lease once. *ttl_left is 0 when etcd no longer knows the lease (expired).
  Status KeepAliveOnce(int64_t lease_id, int64_t* ttl_left);
  Status RevokeLease(int64_t lease_id);
  // Puts key=value, attached to `lease_id` unless it is 0.
  Status Put(std::string_view key, std::string_view value, int64_t lease_id);
  // Every key starting with `prefix`; *revision is the store revision the snapshot was taken at.
  Status RangePrefix(std::string_view prefix, std::vector<EtcdKeyValue>* out, int64_t* revision);
  // Streams changes under `prefix` from `start_revision` on, calling `on_events` for each batch,
  // until Cancel() (returns OK) or a connection/etcd error. Blocks.
  Status WatchPrefix(std::string_view prefix, int64_t start_revision,
                     const std::function<void(const std::vector<EtcdEvent>&)>& on_events);
  // Thread-safe: makes a running (or the next) WatchPrefix return promptly.
  void Cancel();

  // The key just past every key with this prefix (etcd's range_end for a prefix query).
  static std::string PrefixEnd(std::string_view prefix);

 private:
  struct Connection;
  Status Call(std::string_view op, std::string_view path, const std::string& body,
              boost::json::object* reply);
  Status CallOnce(std::string_view op, std::string_view path, const std::string& body,
                  boost::json::object* reply);
  // Gets a token for user_ into token_.
  Status Authenticate();
  // POSTs a JSON body to `path`; *reply receives the reply's JSON text.
  bool Post(std::string_view path, const std::string& body, std::string* reply, std::string* error);
  // Connects (and for TLS shakes hands) `c`'s stream; false with *error.
  bool Connect(Connection* c, std::string* error);
  // Runs the connection's pending I/O for at most a few seconds; false (socket closed) if it
  // did not finish.
  static bool RunWithTimeout(Connection* c);

  std::string host_;
  std::string port_;
  RegistryAccess access_;
  Status config_;                                   // what CheckRegistryAccess said
  std::shared_ptr<boost::asio::ssl::context> tls_;  // null for http://
  std::string token_;                               // etcd auth token, when access_.user is set
  std::unique_ptr<Connection> conn_;                // keep-alive connection for unary calls
  std::atomic<bool> cancelled_{false};
  std::atomic<int> watch_fd_{-1};
};

}  // namespace meshq::agent
