// EtcdProcess: a real single-node etcd (Debian's /usr/bin/etcd) on ephemeral loopback ports with a
// temporary data directory, for registry and end-to-end tests. Killed and removed on destruction.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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

// A secured etcd as tools/etcd.sh --tls starts it (TLS, --client-cert-auth, auth on, the agents'
// user limited to the service prefix /meshq/services/), with certificates of `pki_dir` (made
// by tools/certs.sh). Stopped, by the pid the script keeps, on destruction.
class SecureEtcdProcess {
 public:
  ~SecureEtcdProcess() {
    if (dir_.empty()) return;
    const std::string stop = "bash '" MESHQ_ETCD_SH "' stop '" + dir_ + "' >/dev/null 2>&1";
    if (std::system(stop.c_str()) != 0) std::fprintf(stderr, "etcd.sh stop failed\n");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  bool Start(const std::string& pki_dir, std::string* error) {
    char tmpl[] = "/tmp/meshq-etcd-tls-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      *error = "mkdtemp failed";
      return false;
    }
    dir_ = tmpl;
    const std::string start = "bash '" MESHQ_ETCD_SH "' start '" + dir_ + "' --tls '" + pki_dir +
                              "' >'" + dir_ + "/url' 2>'" + dir_ + "/start.log'";
    if (std::system(start.c_str()) != 0) {
      *error = "tools/etcd.sh start --tls failed: " + Read(dir_ + "/start.log") + " " +
               Read(dir_ + "/etcd.log");
      return false;
    }
    endpoint_ = Read(dir_ + "/url");
    while (!endpoint_.empty() && endpoint_.back() == '\n') endpoint_.pop_back();
    return endpoint_.starts_with("https://");
  }

  const std::string& endpoint() const { return endpoint_; }
  // The agents' registry certificate (no CN), its key, and the agents' user and password.
  std::string cert() const { return dir_ + "/tls/agent.pem"; }
  std::string key() const { return dir_ + "/tls/agent-key.pem"; }
  std::string user() const { return "meshq-agent"; }
  std::string password_file() const { return dir_ + "/tls/agent.password"; }
  std::string password() const {
    std::string p = Read(password_file());
    while (!p.empty() && p.back() == '\n') p.pop_back();
    return p;
  }

 private:
  static std::string Read(const std::string& path) {
    std::ifstream f(path);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  }

  std::string dir_;
  std::string endpoint_;
};

}  // namespace meshq::agent::testing
