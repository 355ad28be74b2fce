// Recovery: Open's rebuild of the in-memory index — the catalogue and block lists from the
// checkpoint log, then the blocks written past each segment's checkpointed tail, found by a scan.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "meshq/status.h"
#include "metadata_store.h"
#include "queue_table.h"
#include "segment.h"
#include "space_release.h"

namespace meshq {

struct CheckpointState;

// What the scan past the tails found (StoreStats reports both).
struct RecoveryCounts {
  uint64_t recovered_blocks = 0;  // continued their queue: adopted into its block list
  uint64_t discarded_blocks = 0;  // anything else: left over from writes no Flush acknowledged
};

// Fills the empty `table` from the checkpoint log in `meta` and the blocks past the tails of
// `segments` (checksummed with `salt`), trims applied. Releases (`releaser`) the space of the
// blocks it discards and of the blocks the last trims dropped. Then sets each segment's reserved
// end past everything in its file and checkpoints the adopted blocks, so that a later recovery
// never rescans (or re-adopts) what this one saw. *state gets where the checkpoint log continues.
Status RecoverIndex(MetadataStore* meta, const std::vector<std::unique_ptr<Segment>>& segments,
                    uint64_t salt, QueueTable* table, CheckpointState* state,
                    RecoveryCounts* counts, SpaceReleaser* releaser);

}  // namespace meshq
