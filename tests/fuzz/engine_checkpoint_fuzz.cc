// Fuzz target: the checkpoint-log record decoder (DecodeCheckpointPart) that Open and `meshq
// verify` replay. Never a crash; what it accepts re-encodes (CheckpointWriter) and decodes back to
// the same entries.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/write_batch.h>

#include "checkpoint_log.h"
#include "fuzz_check.h"

namespace {

struct Entry {
  char kind;  // 'q'ueue, 'b'locks, 't'rim (end_offset holds the trim's start)
  uint32_t id;
  std::string name;
  uint32_t first_block = 0;
  uint64_t end_offset = 0;
  std::vector<meshq::BlockRef> refs;
  bool operator==(const Entry& o) const {
    if (refs.size() != o.refs.size()) return false;
    for (size_t i = 0; i < refs.size(); ++i) {
      if (refs[i].unit != o.refs[i].unit || refs[i].first_offset != o.refs[i].first_offset) {
        return false;
      }
    }
    return kind == o.kind && id == o.id && name == o.name && first_block == o.first_block &&
           end_offset == o.end_offset;
  }
};

struct Recorder : meshq::CheckpointVisitor {
  std::vector<Entry> entries;
  meshq::Status OnQueue(uint32_t id, std::string_view name) override {
    entries.push_back({'q', id, std::string(name)});
    return meshq::Status::OK();
  }
  meshq::Status OnBlocks(uint32_t id, uint32_t first_block, uint64_t end_offset,
                         const meshq::BlockRef* refs, size_t n) override {
    entries.push_back({'b', id, "", first_block, end_offset, {refs, refs + n}});
    return meshq::Status::OK();
  }
  meshq::Status OnTrim(uint32_t id, uint64_t start, uint32_t first_block) override {
    entries.push_back({'t', id, "", first_block, start, {}});
    return meshq::Status::OK();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Recorder first;
  if (!meshq::DecodeCheckpointPart(in, &first).ok()) return 0;
  meshq::CheckpointWriter writer(1);
  for (const Entry& e : first.entries) {
    if (e.kind == 'q') {
      writer.AddQueue(e.id, e.name);
    } else if (e.kind == 't') {
      writer.AddTrim(e.id, e.end_offset, e.first_block);
    } else {
      writer.AddBlocks(e.id, e.first_block, e.end_offset, e.refs.data(), e.refs.size());
    }
  }
  meshq::MetadataStore::Batch batch;
  writer.Finish(&batch);
  // Decode the parts the writer produced, in key order as Open replays them.
  struct Parts : rocksdb::WriteBatch::Handler {
    Recorder again;
    bool ok = true;
    void Put(const rocksdb::Slice& key, const rocksdb::Slice& value) override {
      (void)key;
      ok = ok &&
           meshq::DecodeCheckpointPart(std::string_view(value.data(), value.size()), &again).ok();
    }
  } parts;
  FUZZ_CHECK(batch.rep()->Iterate(&parts).ok());
  FUZZ_CHECK(parts.ok);
  FUZZ_CHECK(parts.again.entries == first.entries);
  return 0;
}
