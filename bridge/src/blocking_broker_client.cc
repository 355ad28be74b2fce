// BlockingBrokerClient: promises over the asynchronous client.
#include "meshq/bridge/blocking_broker_client.h"

#include <future>

namespace meshq::bridge {
namespace asio = boost::asio;

namespace {

void CopyMessages(const MessagesReply& reply, std::vector<OwnedMessage>* out) {
  out->clear();
  for (const Message& m : reply.messages) {
    out->push_back({m.offset, m.dedupe_id, m.flags, std::string(m.payload)});
  }
}

}  // namespace

BlockingBrokerClient::BlockingBrokerClient(BrokerAddress address)
    : client_(BrokerClient::Create(io_, std::move(address))) {
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io_);
    io_.run();
  });
}

BlockingBrokerClient::~BlockingBrokerClient() {
  Close();
  io_.stop();
  thread_.join();
}

Status BlockingBrokerClient::RunOnIo(std::function<void(std::function<void(Status)>)> op) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  asio::post(io_, [op = std::move(op), promise] {
    op([promise](Status s) { promise->set_value(std::move(s)); });
  });
  return future.get();
}

Status BlockingBrokerClient::Connect(std::chrono::milliseconds timeout) {
  asio::post(io_, [this] { client_->Start(std::chrono::milliseconds(20)); });
  auto until = std::chrono::steady_clock::now() + timeout;
  Status why;
  while (std::chrono::steady_clock::now() < until) {
    std::promise<bool> p;
    auto f = p.get_future();
    asio::post(io_, [&] {
      why = client_->last_error();
      p.set_value(client_->connected());
    });
    if (f.get()) return Status::OK();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Status::TimedOut("could not connect to broker" +
                          (why.ok() ? std::string() : ": " + std::string(why.message())));
}

Status BlockingBrokerClient::Put(std::string_view queue,
                                 const std::vector<std::pair<uint64_t, std::string>>& messages,
                                 uint8_t flags, std::vector<PutStatus>* results,
                                 std::string_view group) {
  return RunOnIo([&](std::function<void(Status)> done) {
    std::vector<PutMessage> batch;
    for (const auto& [id, payload] : messages) batch.push_back({id, payload});
    client_->Put(
        queue, batch, flags, group, [results, done](const Status& s, const PutAnswer& answer) {
          if (s.ok() && answer.no_consumers) {
            return done(Status::Unavailable("no consumers"));
          }
          if (results) {
            results->clear();
            for (const PutResult& r : answer.results) {
              results->push_back(
                  {r.outcome, r.outcome == PutOutcome::kReplied ? r.reply_offset : r.offset});
            }
          }
          done(s);
        });
  });
}

Status BlockingBrokerClient::Get(std::string_view queue, uint64_t offset, uint32_t max_count,
                                 std::vector<OwnedMessage>* out, uint64_t* queue_size,
                                 uint8_t flags) {
  return RunOnIo([&](std::function<void(Status)> done) {
    client_->Get(
        queue, offset, max_count,
        [out, queue_size, done](const Status& s, const MessagesReply& reply) {
          CopyMessages(reply, out);
          if (queue_size) *queue_size = reply.queue_size;
          done(s);
        },
        flags);
  });
}

Status BlockingBrokerClient::Fetch(std::string_view queue, uint64_t offset, uint32_t max_count,
                                   uint32_t wait_ms, std::vector<OwnedMessage>* out) {
  return RunOnIo([&](std::function<void(Status)> done) {
    client_->Fetch(queue, offset, max_count, wait_ms,
                   [out, done](const Status& s, const MessagesReply& reply) {
                     CopyMessages(reply, out);
                     done(s);
                   });
  });
}

Status BlockingBrokerClient::GroupFetch(std::string_view queue, std::string_view group,
                                        uint32_t max_count, uint32_t wait_ms,
                                        std::vector<OwnedMessage>* out, uint64_t member) {
  return RunOnIo([&](std::function<void(Status)> done) {
    client_->GroupFetch(
        queue, group, max_count, wait_ms,
        [out, done](const Status& s, const MessagesReply& reply) {
          CopyMessages(reply, out);
          done(s);
        },
        member);
  });
}

Status BlockingBrokerClient::Release(std::string_view queue, std::string_view group,
                                     const std::vector<uint64_t>& offsets) {
  return RunOnIo([&](std::function<void(Status)> done) {
    client_->Release(queue, group, offsets);
    done(Status::OK());
  });
}

Status BlockingBrokerClient::Ack(std::string_view queue, std::string_view group,
                                 const std::vector<uint64_t>& offsets, bool sync,
                                 uint64_t* committed) {
  return RunOnIo([&](std::function<void(Status)> done) {
    client_->Ack(queue, group, offsets, sync, [committed, done](const Status& s, uint64_t c) {
      if (committed) *committed = c;
      done(s);
    });
  });
}

Status BlockingBrokerClient::Stats(BrokerStats* out) {
  return RunOnIo([&](std::function<void(Status)> done) {
    client_->Stats([out, done](const Status& s, const BrokerStats& stats) {
      *out = stats;
      done(s);
    });
  });
}

Status BlockingBrokerClient::Anchor(std::string_view queue, std::string* body) {
  return RunOnIo([&](std::function<void(Status)> done) {
    client_->Anchor(queue, [body, done](const Status& s, std::string_view b) {
      body->assign(b);
      done(s);
    });
  });
}

void BlockingBrokerClient::Close() {
  std::promise<void> p;
  auto f = p.get_future();
  asio::post(io_, [&] {
    client_->Close();
    p.set_value();
  });
  f.wait();
}

}  // namespace meshq::bridge
