// SpaceReserve: allocated space the store keeps (dir/meta/RESERVE) so that it can open on a full
// disk. Open writes before it serves anything — RocksDB's new manifest, log and options files
// and the checkpoint of what recovery adopted, all in dir/meta — and a store killed while its
// disk was full would otherwise fail to start until space was freed. An Open that fails for lack
// of space deletes the reserve and tries once more; an Open that finds room creates it again.
#pragma once

#include <cstdint>
#include <string>

#include "meshq/status.h"

namespace meshq {

// Size of the reserve: what an Open writes (a few pages of RocksDB files, and 8 bytes per block
// recovery adopts), with room to spare.
inline constexpr uint64_t kReserveBytes = 512u << 10;

std::string ReservePath(const std::string& meta_dir);

// Creates the reserve in `meta_dir` unless it exists or the disk is nearly full (it is never
// what fills a disk). Best effort: a reserve that cannot be made is not an error of Open.
void CreateReserveIfMissing(const std::string& meta_dir);

// Deletes the reserve, if there is one.
void ReleaseReserve(const std::string& meta_dir);

// True when `s` failed for lack of space (ENOSPC, or EFBIG past a file size limit).
bool IsNoSpace(const Status& s);

// The error of an Open that found no room even without the reserve: names `dir`, the free bytes
// of its file system and what Open needs, and keeps the underlying `cause`.
Status NoSpaceToOpen(const std::string& dir, const Status& cause);

}  // namespace meshq
