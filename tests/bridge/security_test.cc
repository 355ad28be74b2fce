// Identities, ACLs, replies bound to requests and the attributable audit (docs/SECURITY.md), on
// the real meshq-broker over mutual TLS with the certificates of tools/certs.sh ("alice" and
// "bob"): alice cannot fetch bob's reply queue, ack his group, take the service's requests or
// store where she may not, and a refused operation changes nothing and is counted; nobody but the
// responder handed a request (or another connection of its identity) can store its reply — a
// forged reply is refused and the real one settles the call; `meshq-audit` names caller and
// responder of every call. A bad ACL file stops the broker at start (exit 2, with its line).
#include <signal.h>

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "broker_process.h"
#include "io_thread.h"
#include "loopback_client.h"
#include "meshq/bridge/blocking_broker_client.h"
#include "meshq/bridge/frame.h"
#include "meshq/bridge/rpc_client.h"
#include "meshq/bridge/rpc_message.h"
#include "meshq/bridge/rpc_server.h"
#include "metrics_sample.h"
#include "test_pki.h"

namespace meshq::bridge {
namespace {

using namespace std::chrono_literals;
using ::meshq::testing::HttpBody;
using ::meshq::testing::HttpGet;
using ::meshq::testing::MetricSample;
using testing::BrokerProcess;
using testing::IoThread;
using testing::RunProgram;
namespace asio = boost::asio;

// The ACL of a deployment with one service, "hash", answered by bob.
constexpr const char* kAcl =
    "# requesters: call the service, read and ack their own replies\n"
    "allow * put rpc.req.hash\n"
    "allow * group,ack,get rpc.rep.${identity}\n"
    "# the responder of hash: its requests, and a reply to whoever called\n"
    "allow bob group,ack rpc.req.hash\n"
    "allow bob reply rpc.rep.*\n"
    "allow bob put,get,group,ack scratch.*\n"
    "# the auditor (bob here): the RPC queues, the dedupe journal\n"
    "allow bob get rpc.*\n"
    "allow bob get __meshq.dedupe.*\n";

class SecurityTest : public ::meshq::testing::TestPkiSuite {
 protected:
  void TearDown() override {
    for (auto& s : servers_) io_.Run([&] { s->Shutdown(); });
    for (auto& c : clients_) io_.Run([&] { c->Shutdown(); });
  }
  // Mutual TLS, metrics on; with the ACL above unless `acl` is false.
  void StartBroker(bool acl = true) {
    std::vector<std::string> args = {
        "--tls-cert",      pki_.cert("broker"), "--tls-key",      pki_.key("broker"),
        "--tls-client-ca", pki_.cert("ca"),     "--metrics-port", "0"};
    if (acl) {
      acl_path_ = broker_.dir() + "/acl";
      std::ofstream(acl_path_) << kAcl;
      args.insert(args.end(), {"--acl", acl_path_});
    }
    ASSERT_TRUE(broker_.Start(args));
  }
  BrokerAddress As(const std::string& name) {
    BrokerAddress a = broker_.address();
    TlsClientOptions o;
    o.ca_file = pki_.cert("ca");
    o.cert_file = pki_.cert(name);
    o.key_file = pki_.key(name);
    Status s = SetBrokerTls(o, &a);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return a;
  }
  std::unique_ptr<BlockingBrokerClient> Connect(const std::string& name) {
    auto c = std::make_unique<BlockingBrokerClient>(As(name));
    EXPECT_TRUE(c->Connect(5s).ok());
    return c;
  }
  double Refused(const std::string& reason) {
    return MetricSample(HttpBody(HttpGet(broker_.metrics_port(), "/metrics")),
                        "meshq_broker_refused_total{reason=\"" + reason + "\"}");
  }
  // An RpcServer of "hash" as bob answering "re:<payload>" after `delay`.
  void StartServer(std::chrono::milliseconds delay) {
    RpcServerOptions o;
    o.broker = As("bob");
    o.service = "hash";
    servers_.push_back(io_.Run([&] {
      auto s = RpcServer::Create(
          io_.io(), o, [this, delay](const RpcCall& call, RpcServer::Respond respond) {
            auto t = std::make_shared<asio::steady_timer>(io_.io(), delay);
            t->async_wait([t, respond, reply = "re:" + call.payload](boost::system::error_code) {
              respond(ReplyStatus::kOk, reply);
            });
          });
      s->Start();
      return s;
    }));
  }
  std::shared_ptr<RpcClient> StartClient(const std::string& name) {
    RpcClientOptions o;
    o.broker = As(name);
    o.client_id = name;
    auto c = io_.Run([&] {
      auto client = RpcClient::Create(io_.io(), o);
      client->Start();
      return client;
    });
    clients_.push_back(c);
    return c;
  }
  std::future<CallResult> CallAsync(const std::shared_ptr<RpcClient>& client,
                                    const std::string& payload) {
    auto promise = std::make_shared<std::promise<CallResult>>();
    auto f = promise->get_future();
    asio::post(io_.io(), [=] {
      client->Call("hash", payload, {},
                   [promise](CallResult r) { promise->set_value(std::move(r)); });
    });
    return f;
  }

  BrokerProcess broker_;
  std::string acl_path_;
  IoThread io_;
  std::vector<std::shared_ptr<RpcServer>> servers_;
  std::vector<std::shared_ptr<RpcClient>> clients_;
};

TEST_F(SecurityTest, TheAclKeepsEachIdentityToItsOwnQueuesAndARefusalChangesNothing) {
  StartBroker();
  auto alice = Connect("alice");
  auto bob = Connect("bob");
  std::vector<OwnedMessage> got;
  uint64_t size = 0;
  // What alice may do.
  ASSERT_TRUE(alice->Put("rpc.req.hash", {{1, "request"}}).ok());
  EXPECT_TRUE(alice->Get("rpc.rep.alice", 0, 10, &got).ok());
  // What she may not: each refused with PermissionDenied, counted.
  const double before = Refused("acl");
  EXPECT_TRUE(alice->GroupFetch("rpc.rep.bob", kRpcGroup, 10, 0, &got).IsPermissionDenied());
  EXPECT_TRUE(alice->Get("rpc.rep.bob", 0, 10, &got).IsPermissionDenied());
  EXPECT_TRUE(alice->Fetch("rpc.rep.alice", 0, 10, 10, &got).IsPermissionDenied())
      << "fetch is not granted, get is";
  EXPECT_TRUE(alice->GroupFetch("rpc.req.hash", kRpcGroup, 10, 0, &got).IsPermissionDenied())
      << "only the responder takes the service's requests";
  EXPECT_TRUE(alice->Put("rpc.rep.bob", {{1, "forged"}}, kPutFlagReply).IsPermissionDenied());
  EXPECT_TRUE(alice->Put("scratch.x", {{0, "x"}}).IsPermissionDenied());
  // bob's messages in flight in his group: alice's ack of them is refused and acks nothing.
  ASSERT_TRUE(bob->Put("scratch.x", {{0, "a"}, {0, "b"}, {0, "c"}}).ok());
  ASSERT_TRUE(bob->GroupFetch("scratch.x", "g", 10, 0, &got).ok());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(alice->Ack("scratch.x", "g", {0, 1, 2}, true).IsPermissionDenied());
  EXPECT_EQ(Refused("acl"), before + 7);
  // Nothing changed: alice's put stored nothing, and bob's messages are still unacked (handed
  // back to the group when his connection closes).
  ASSERT_TRUE(bob->Get("scratch.x", 0, 10, &got, &size).ok());
  EXPECT_EQ(size, 3u);
  bob->Close();
  bob = Connect("bob");
  ASSERT_TRUE(bob->GroupFetch("scratch.x", "g", 10, 0, &got).ok());
  EXPECT_EQ(got.size(), 3u);
}

TEST_F(SecurityTest, AForgedReplyIsRefusedAndTheRealOneSettlesTheCall) {
  // No ACL: the binding alone stops the forger, although it may read and write every queue.
  StartBroker(/*acl=*/false);
  StartServer(500ms);
  auto client = StartClient("alice");
  std::this_thread::sleep_for(200ms);  // the server's group fetch is parked
  auto call = CallAsync(client, "hello");
  // The forger (another of alice's connections, so even the caller itself) finds the request...
  auto forger = Connect("alice");
  std::vector<OwnedMessage> requests;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (requests.empty() && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(forger->Get("rpc.req.hash", 0, 10, &requests).ok());
  }
  ASSERT_EQ(requests.size(), 1u);
  RpcRequest request;
  ASSERT_TRUE(DecodeRpcRequest(requests[0].payload, &request).ok());
  RpcReply forged;
  forged.request_id = request.request_id;
  forged.deadline_us = request.deadline_us;
  forged.replied_us = UnixMicros();
  forged.payload = "666";
  std::string encoded;
  EncodeRpcReply(forged, &encoded);
  // ... and its REPLY is refused: it was not handed the request.
  const double before = Refused("unbound_reply");
  std::vector<PutStatus> results;
  EXPECT_TRUE(forger
                  ->Put(std::string(request.reply_to), {{request.request_id, encoded}},
                        kPutFlagReply, &results)
                  .IsPermissionDenied());
  EXPECT_EQ(Refused("unbound_reply"), before + 1);
  // A plain PUT of the same bytes is stored, but is no reply: the client ignores it.
  ASSERT_TRUE(forger->Put(std::string(request.reply_to), {{0, encoded}}).ok());
  ASSERT_EQ(call.wait_for(10s), std::future_status::ready);
  CallResult r = call.get();
  EXPECT_EQ(r.error, CallError::kNone) << r.payload;
  EXPECT_EQ(r.payload, "re:hello");
}

TEST_F(SecurityTest, ARequestsReplyComesFromTheConnectionHandedItOrOneOfItsIdentity) {
  StartBroker(/*acl=*/false);
  auto alice = Connect("alice");
  auto bob = Connect("bob");
  ASSERT_TRUE(alice->Put("rpc.req.svc", {{11, "r11"}, {12, "r12"}, {13, "r13"}}).ok());
  std::vector<OwnedMessage> got;
  ASSERT_TRUE(bob->GroupFetch("rpc.req.svc", kRpcGroup, 2, 0, &got).ok());  // 11 and 12
  ASSERT_EQ(got.size(), 2u);
  // Not handed to alice; 13 handed to nobody; id 0 names no request.
  EXPECT_TRUE(alice->Put("rpc.rep.c", {{11, "x"}}, kPutFlagReply).IsPermissionDenied());
  EXPECT_TRUE(bob->Put("rpc.rep.c", {{13, "x"}}, kPutFlagReply).IsPermissionDenied());
  EXPECT_TRUE(bob->Put("rpc.rep.c", {{0, "x"}}, kPutFlagReply).IsPermissionDenied());
  // One refused message refuses the whole PUT: nothing stored.
  EXPECT_TRUE(bob->Put("rpc.rep.c", {{11, "a11"}, {13, "x"}}, kPutFlagReply).IsPermissionDenied());
  std::vector<OwnedMessage> replies;
  uint64_t size = 0;
  ASSERT_TRUE(bob->Get("rpc.rep.c", 0, 10, &replies, &size).ok());
  EXPECT_EQ(size, 0u);
  // The responder's own connection, and after a reconnect another one of its identity.
  ASSERT_TRUE(bob->Put("rpc.rep.c", {{11, "a11"}}, kPutFlagReply).ok());
  auto bob_again = Connect("bob");
  ASSERT_TRUE(bob_again->Put("rpc.rep.c", {{12, "a12"}}, kPutFlagReply).ok());
  ASSERT_TRUE(bob->Get("rpc.rep.c", 0, 10, &replies, &size).ok());
  EXPECT_EQ(size, 2u);
}

TEST_F(SecurityTest, TheAuditNamesCallerAndResponderOfEveryCall) {
  StartBroker();
  StartServer(0ms);
  auto alice = StartClient("alice");
  std::this_thread::sleep_for(200ms);
  for (int i = 0; i < 3; ++i) {
    auto f = CallAsync(alice, "call " + std::to_string(i));
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(f.get().error, CallError::kNone);
  }
  // The audit reads as an identity the ACL lets read the queues (bob); alice may not.
  std::string out;
  const int code =
      RunProgram({MESHQ_AUDIT_PATH, "--broker", "127.0.0.1:" + std::to_string(broker_.port()),
                  "--service", "hash", "--calls", "--tls-ca", pki_.cert("ca"), "--tls-cert",
                  pki_.cert("bob"), "--tls-key", pki_.key("bob")},
                 &out, 30s);
  EXPECT_EQ(code, 0) << out;
  std::string refused;
  EXPECT_EQ(RunProgram({"/bin/sh", "-c",
                        std::string(MESHQ_AUDIT_PATH) +
                            " --broker 127.0.0.1:" + std::to_string(broker_.port()) +
                            " --service hash --tls-ca " + pki_.cert("ca") + " --tls-cert " +
                            pki_.cert("alice") + " --tls-key " + pki_.key("alice") + " 2>&1"},
                       &refused, 30s),
            2);
  EXPECT_NE(refused.find("Permission denied: get on rpc.req.hash not allowed for alice"),
            std::string::npos)
      << refused;
  EXPECT_NE(out.find("callers  alice 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("responders  bob 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("caller alice  responder bob  ok"), std::string::npos) << out;
}

TEST_F(SecurityTest, ABadAclFileStopsTheBrokerNamingItsLine) {
  const std::string acl = broker_.dir() + "/bad.acl";
  std::ofstream(acl) << "allow * put rpc.req.hash\nallow bob take rpc.req.hash\n";
  std::string out;
  EXPECT_EQ(RunProgram({"/bin/sh", "-c",
                        std::string(MESHQ_BROKER_PATH) + " --dir " + broker_.dir() + "/x --acl " +
                            acl + " 2>&1"},
                       &out, 10s),
            2);
  EXPECT_NE(out.find("acl " + acl +
                     ": line 2: unknown operation 'take' (put, get, fetch, group, ack, reply, "
                     "all)"),
            std::string::npos)
      << out;
  EXPECT_EQ(RunProgram({"/bin/sh", "-c",
                        std::string(MESHQ_BROKER_PATH) + " --dir " + broker_.dir() + "/x --acl " +
                            acl + ".missing 2>&1"},
                       &out, 10s),
            2);
  EXPECT_NE(out.find("cannot be read"), std::string::npos) << out;
}

}  // namespace
}  // namespace meshq::bridge
