// EtcdProcess: a real single-node etcd (Debian's /usr/bin/etcd) on ephemeral loopback ports with a
// temporary data directory, for registry and end-to-end tests. Killed and removed on destruction.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "etcd_client.h"

namespace meshq::agent::testing {

class EtcdProcess {
 public:
  ~EtcdProcess() {
    process_.Kill(SIGKILL);
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  // Starts etcd and waits until it serves requests. False (with a reason) when it cannot.
  bool Start(std::string* error) {
    char tmpl[] = "/tmp/meshq-etcd-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      *error = "mkdtemp failed";
      return false;
    }
    dir_ = tmpl;
    for (int attempt = 0; attempt < 3; ++attempt) {
      client_port_ = FreeLoopbackPort();
      peer_port_ = FreeLoopbackPort();
      data_ = dir_ + "/data-" + std::to_string(attempt);
      if (Launch(error)) return true;  // else probably lost a port race: try fresh ports
    }
    return false;
  }

  // Kills etcd (SIGKILL) and starts it again on the same ports and data: a crash and restart.
  bool Restart(std::string* error) {
    process_.Kill(SIGKILL);
    return Launch(error);
  }

  void Kill() { process_.Kill(SIGKILL); }
  const std::string& endpoint() const { return endpoint_; }

 private:
  bool Launch(std::string* error) {
    endpoint_ = "http://127.0.0.1:" + std::to_string(client_port_);
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    if (!process_.Start({"/usr/bin/etcd", "--name", "meshq-test", "--data-dir", data_,
                         "--listen-client-urls", endpoint_, "--advertise-client-urls", endpoint_,
                         "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                         "--initial-cluster", "meshq-test=" + peer, "--log-level", "error"},
                        dir_ + "/etcd.log")) {
      *error = "cannot spawn /usr/bin/etcd";
      return false;
    }
    // Ready when a range over an empty prefix succeeds.
    EtcdClient client(endpoint_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::vector<EtcdKeyValue> kvs;
      int64_t revision = 0;
      if (client.RangePrefix("/meshq-probe/", &kvs, &revision).ok()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    process_.Kill(SIGKILL);
    *error = "etcd did not become ready; see " + dir_ + "/etcd.log";
    return false;
  }

  int client_port_ = 0;
  int peer_port_ = 0;
  std::string data_;
  ChildProcess process_;
  std::string dir_;
  std::string endpoint_;
};

}  // namespace meshq::agent::testing
