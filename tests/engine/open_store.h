// OpenStore: opens (creating) a store in `dir` with options `o` for a test, failing the test
// (non-fatally; the result is then null) when Open does not succeed.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "meshq/queue_store.h"

namespace meshq::testing {

inline std::unique_ptr<QueueStore> OpenStore(const std::string& dir, StoreOptions o = {}) {
  o.dir = dir;
  std::unique_ptr<QueueStore> store;
  Status s = QueueStore::Open(o, &store);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return store;
}

}  // namespace meshq::testing
