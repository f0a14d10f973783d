// backup-prune: forget snapshots by a retention policy (forget), and delete the data no
// snapshot needs (gc) with two-phase deletion so that backups running meanwhile, on any host,
// never end up referencing deleted data (DESIGN.md §3, docs/prune.md).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lifeboat/ops/prune/policy.hpp"
#include "lifeboat/repo/repository.hpp"

namespace lifeboat::ops::prune {

struct ForgetOptions {
  // The policy of the command line; when unset, `job_policies` (from the configuration) decide
  // per job, and snapshots of a job without one are kept.
  std::optional<Policy> policy;
  std::map<std::string, Policy> job_policies;
  std::optional<Policy> default_policy;  // the repository's, for jobs without their own
  std::vector<std::string> group_by = {"host", "job"};  // any of host, job, paths, tags
  repo::SnapshotFilter filter;
  std::vector<std::string> snapshots;  // forget exactly these (ids or prefixes), no policy
  bool dry_run = false;
  bool allow_remove_all = false;
  bool json = false;
  // S3 Object Lock is configured (the retention period; 0 = none): snapshots whose object is
  // still retained (looked up, one HEAD per snapshot to remove) are kept.
  int64_t retention_ns = 0;
  int64_t now_ns = 0;  // 0 = the clock
};

// Decides, prints (text or JSON) and, unless dry_run, forgets. Returns the exit code. The ids
// forgotten (or, in a dry run, that would be) go to *removed; with json, the document goes to
// *json_out instead of standard output when given.
int forget(repo::Repository& repo, const ForgetOptions& options,
           std::vector<Id32>* removed = nullptr, nlohmann::json* json_out = nullptr);

struct GcOptions {
  bool dry_run = false;
  bool json = false;
  // A pack whose unused share exceeds this (percent of its bytes) is repacked.
  double max_unused_percent = 10;
  // Bytes of packs (their whole size) repacked at most per run (0 = no limit).
  uint64_t max_repack_bytes = 0;
  // Condemned packs are deleted by a later run only after this much time.
  int64_t grace_ns = 3600LL * 1000000000;
  // A live lock that started less than this after a condemnation still blocks its deletion
  // (clock skew between hosts).
  int64_t skew_ns = 300LL * 1000000000;
  // S3 Object Lock: a pack is deleted only when its retention has certainly ended (this long
  // after it was condemned), and the retention of objects in use is extended (gc.cpp,
  // extend_retention). 0 = none.
  int64_t retention_ns = 0;
  // A dry run after a dry-run forget: these snapshots count as forgotten.
  std::set<Id32> assume_forgotten;
};

// Garbage collection. Returns the exit code. With json, the document goes to *json_out
// instead of standard output when given.
int gc(repo::Repository& repo, const GcOptions& options, nlohmann::json* json_out = nullptr);

struct RebuildOptions {
  bool dry_run = false;
  bool json = false;
};
// backup-prune rebuild-index (rebuild_index.cpp): replaces damaged index files, drops the
// records of packs that are gone and indexes every pack no intact index file names, from its
// own header. Takes an exclusive lock. Returns 0, or 20 when data was found lost (packs gone,
// damaged or with unreadable headers; named in the output).
int rebuild_index(repo::Repository& repo, const RebuildOptions& options);
// Writes index files (65,536 blobs at most each) naming these packs; returns how many.
size_t write_index(repo::Repository& repo, const std::vector<repo::PackRecord>& packs);
// Reads a whole pack and its header; nullopt when the pack is gone. *damaged (if given) tells
// whether its bytes match its name. Throws IntegrityError when the header does not open.
std::optional<repo::PackRecord> read_pack_record(repo::Repository& repo, const Id32& id,
                                                 bool* damaged = nullptr);
// Refuses (Error(not_permitted), exit 22) when the storage does not let us delete: writes and
// removes a probe lock object. Call before changing anything.
void require_deletes(repo::Repository& repo);

}  // namespace lifeboat::ops::prune
