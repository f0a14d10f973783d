// backup-prune rebuild-index: makes the index whole again from what is stored (docs/prune.md).
//
// The index is derived data: every pack carries its own header (sealed under the metadata
// key), so a damaged index file loses nothing that the packs do not still say. One run, under
// an exclusive lock:
//  1. lists the packs, and loads every index file: the intact ones keep their records;
//  2. records of packs that are gone are dropped (their files are rewritten without them), so
//     that no backup deduplicates against data that is not there: the next backup of those
//     files stores them again;
//  3. every pack no intact index file names (those of the damaged files, of backups killed
//     before their index, of earlier condemnations) is read whole and indexed from its header;
//  4. writes the new index files, and only then removes the damaged and rewritten ones.
// A kill anywhere leaves at most duplicate records (harmless) or the damaged files still in
// place: the next run finishes the work. Packs are never removed here.
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "lifeboat/core/cancel.hpp"
#include "lifeboat/core/log.hpp"
#include "lifeboat/ops/prune/prune.hpp"
#include "lifeboat/repo/lock.hpp"

namespace lifeboat::ops::prune {

using nlohmann::json;

namespace {

std::string short_id(const Id32& id) { return id.hex().substr(0, 12); }

std::vector<std::string> short_ids(const std::set<Id32>& ids) {
  std::vector<std::string> out;
  for (auto& id : ids) out.push_back(short_id(id));
  return out;
}

}  // namespace

std::optional<repo::PackRecord> read_pack_record(repo::Repository& repo, const Id32& id,
                                                 bool* damaged) {
  Bytes data;
  if (!repo.storage().get(repo::object_key(repo::Kind::data_blob, id), data)) return std::nullopt;
  if (damaged) *damaged = crypto::sha256(data) != id;
  repo::PackRecord r;
  r.id = id;
  r.size = data.size();
  r.header = repo::parse_pack_trailer(repo.keys(), data, "pack " + short_id(id));
  return r;
}

size_t write_index(repo::Repository& repo, const std::vector<repo::PackRecord>& packs) {
  constexpr size_t k_blobs_per_index = 65536;
  std::vector<repo::PackRecord> batch;
  size_t blobs = 0, files = 0;
  auto flush = [&] {
    repo.save_meta(repo::Kind::index, repo::encode_index(batch));
    ++files;
    batch.clear();
    blobs = 0;
  };
  for (auto& r : packs) {
    batch.push_back(r);
    blobs += r.header.blobs.size();
    if (blobs >= k_blobs_per_index) flush();
  }
  if (!batch.empty()) flush();
  return files;
}

int rebuild_index(repo::Repository& repo, const RebuildOptions& o) {
  std::unique_ptr<repo::RepoLock> lock;
  if (!o.dry_run) lock = repo::RepoLock::acquire(repo, true, "rebuild-index");

  std::map<Id32, uint64_t> stored;
  repo.storage().list("data/", [&](const storage::ObjectInfo& info) {
    Id32 id;
    if (parse_id(info.key.substr(info.key.rfind('/') + 1), id) &&
        info.key == repo::object_key(repo::Kind::data_blob, id))
      stored.emplace(id, info.size);
  });

  // 1. Index files: intact ones keep their records, damaged ones are replaced.
  std::vector<Id32> files = repo.list_ids(repo::Kind::index);
  std::map<Id32, std::vector<repo::PackRecord>> intact;
  std::set<Id32> damaged;
  for (auto& fid : files) {
    cancel::check();
    try {
      intact.emplace(fid, repo::decode_index(repo.load_meta(repo::Kind::index, fid),
                                             "index " + fid.hex().substr(0, 8)));
    } catch (const IntegrityError& e) {
      log::warn("index file {} is damaged and will be replaced: {}", short_id(fid), e.what());
      damaged.insert(fid);
    }
  }

  // 2. Records of packs that are gone (looked up once more: the listing is not the last word).
  std::set<Id32> indexed, missing;
  std::set<Id32> rewrite;  // intact files that name a pack that is gone
  for (auto& [fid, records] : intact)
    for (auto& r : records) {
      if (stored.count(r.id) || indexed.count(r.id)) {
        indexed.insert(r.id);
      } else if (missing.count(r.id) ||
                 !repo.storage().stat(repo::object_key(repo::Kind::data_blob, r.id))) {
        missing.insert(r.id);
        rewrite.insert(fid);
      } else {
        indexed.insert(r.id);
      }
    }
  std::vector<repo::PackRecord> fresh;
  std::set<Id32> kept;  // packs named by the intact files that stay
  for (auto& [fid, records] : intact)
    if (!rewrite.count(fid))
      for (auto& r : records) kept.insert(r.id);
  for (auto& fid : rewrite)
    for (auto& r : intact.at(fid))
      if (!missing.count(r.id) && kept.insert(r.id).second) fresh.push_back(r);
  size_t carried = fresh.size();

  // 3. Packs that no intact index file names: indexed from their own headers.
  std::set<Id32> unreadable, damaged_packs;
  for (auto& [id, size] : stored) {
    if (indexed.count(id)) continue;
    cancel::check();
    try {
      bool bad = false;
      auto r = read_pack_record(repo, id, &bad);
      if (!r) continue;  // removed meanwhile (the listing is older than the read)
      if (bad) {
        log::error(
            "pack {} does not match its name (damaged): indexed from its header so that "
            "its intact blobs stay readable",
            short_id(id));
        damaged_packs.insert(id);
      }
      fresh.push_back(std::move(*r));
    } catch (const IntegrityError& e) {
      log::error("{}: its blobs cannot be indexed; the pack is left in place", e.what());
      unreadable.insert(id);
    }
  }

  // 4. New index files first, then the ones they replace.
  bool change = !damaged.empty() || !rewrite.empty() || !fresh.empty();
  size_t written = 0;
  if (!o.dry_run && change) {
    lock->check_valid();
    written = write_index(repo, fresh);
    for (auto& fid : damaged) repo.storage().remove(repo::object_key(repo::Kind::index, fid));
    for (auto& fid : rewrite) repo.storage().remove(repo::object_key(repo::Kind::index, fid));
  }
  if (lock) lock->release();

  bool lost = !missing.empty() || !unreadable.empty() || !damaged_packs.empty();
  if (o.json) {
    json doc{{"dry_run", o.dry_run},
             {"packs_stored", stored.size()},
             {"index_files", files.size()},
             {"index_files_damaged", short_ids(damaged)},
             {"index_files_rewritten", rewrite.size()},
             {"index_files_written", o.dry_run ? json(nullptr) : json(written)},
             {"packs_indexed_from_headers", fresh.size() - carried},
             {"packs_missing", short_ids(missing)},
             {"packs_unreadable", short_ids(unreadable)},
             {"packs_damaged", short_ids(damaged_packs)},
             {"ok", !lost}};
    fmt::print("{}\n", doc.dump(-1, ' ', false, json::error_handler_t::replace));
  } else {
    const char* would = o.dry_run ? "would " : "";
    log::info("{} pack(s) stored; {} index file(s), {} damaged, {} naming packs that are gone",
              stored.size(), files.size(), damaged.size(), rewrite.size());
    if (!change)
      log::info("the index is whole: nothing to rebuild");
    else
      log::info(
          "{}index {} pack(s) from their own headers, carry over {} record(s); {}replace "
          "{} index file(s)",
          would, fresh.size() - carried, carried, would, damaged.size() + rewrite.size());
    if (!missing.empty())
      log::error(
          "{} pack(s) that the index named are gone: {}. What they held is lost; the "
          "records are {}dropped so that the next backup stores those files again "
          "(if they still exist). backup-verify names the snapshots affected",
          missing.size(), fmt::join(short_ids(missing), ", "), would);
    if (!unreadable.empty() || !damaged_packs.empty())
      log::error("{} pack(s) damaged: backup-verify --read-data names the files affected",
                 unreadable.size() + damaged_packs.size());
  }
  return lost ? static_cast<int>(Exit::integrity) : 0;
}

}  // namespace lifeboat::ops::prune
