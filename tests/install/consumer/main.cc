// Uses only the installed public header: put, get, flush, close, reopen.
#include <meshq/queue_store.h>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  meshq::StoreOptions options;
  options.dir = argv[1];
  for (int round = 0; round < 2; ++round) {
    std::unique_ptr<meshq::QueueStore> store;
    meshq::Status s = meshq::QueueStore::Open(options, &store);
    if (!s.ok()) {
      std::fprintf(stderr, "open: %s\n", s.ToString().c_str());
      return 1;
    }
    if (round == 0) {
      for (int i = 0; i < 1000; ++i) {
        s = store->Put("orders", "order-" + std::to_string(i));
        if (!s.ok()) return 1;
      }
      if (!store->Flush().ok()) return 1;
    }
    meshq::MessageBatch batch;
    s = store->Get("orders", 990, 100, &batch);
    if (!s.ok() || batch.size() != 10 || batch[9] != "order-999") {
      std::fprintf(stderr, "unexpected get result: %s size %zu\n", s.ToString().c_str(),
                   batch.size());
      return 1;
    }
    if (!store->Close().ok()) return 1;
  }
  std::printf("consumer ok\n");
  return 0;
}
