// backup-prune (garbage collection) with two-phase deletion (DESIGN.md §3, docs/prune.md).
//
// One run:
//  1. lists snapshots, index and packs, and walks every snapshot's trees: the used blobs;
//  2. judges the packs condemned by earlier runs: back in the index (a crash before their
//     condemnation was recorded, or a revival) → no longer condemned; holding a used blob no
//     live pack has (a backup that started before the condemnation used it) → revived;
//     otherwise deleted once the grace period is over and no lock older than the condemnation
//     (plus clock skew) is alive;
//  3. condemns packs no snapshot needs, and packs that nobody indexed; repacks the live blobs
//     of mostly unused packs into new packs, and condemns the old ones;
//  4. writes the consolidated index, removes the index files it replaces, and only then
//     records the condemnation with the time: any backup that could still see a condemned pack
//     in the index holds a lock that started before that time.
// Packs are deleted only in step 2 of a later run. A SIGKILL anywhere leaves either extra
// index entries (harmless duplicates), or packs that are in no index and in no record, which
// the next run condemns afresh with a later time: never a deleted pack that anything needs.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "lifeboat/core/cancel.hpp"
#include "lifeboat/core/log.hpp"
#include "lifeboat/ops/prune/prune.hpp"
#include "lifeboat/repo/blob_saver.hpp"
#include "lifeboat/repo/deletion.hpp"
#include "lifeboat/repo/lock.hpp"
#include "lifeboat/util/host.hpp"
#include "lifeboat/util/stack.hpp"

namespace lifeboat::ops::prune {
namespace {
using nlohmann::json;
using IdSet = std::unordered_set<Id32, Id32Hash>;

constexpr int k_max_depth = 4096;
// An interrupted upload's temporary file is removed once it is older than the grace period
// and at least this old, so that no upload still under way loses its file.
constexpr int64_t k_upload_age_ns = 3600LL * 1000000000;

std::string pack_name(const Id32& id) { return id.hex().substr(0, 12); }

struct Condemned {
  repo::PackRecord record;
  int64_t time_ns = 0;
};

struct Plan {
  std::vector<repo::PackRecord> live;     // records of the index, one per pack
  std::vector<repo::PackRecord> condemn;  // no used blob, or unindexed
  std::vector<repo::PackRecord> repack;   // mostly unused
  std::vector<repo::PackRecord> revive;   // condemned, but needed again
  std::vector<Id32> remove;               // condemned long enough: delete now
  std::set<Id32> settled;                 // condemned entries to drop from their records
  std::vector<std::string> waiting;       // why condemned packs are not deleted yet
  uint64_t remove_bytes = 0, condemn_bytes = 0, repack_bytes = 0, repack_used_bytes = 0;
  size_t waiting_packs = 0;
};

class Collector {
 public:
  Collector(repo::Repository& repo, const GcOptions& o) : m_repo(repo), m_o(o) {}

  void load() {
    for (auto& id : m_repo.list_ids(repo::Kind::snapshot)) {
      if (m_o.assume_forgotten.count(id)) continue;
      try {
        m_roots.emplace_back(id, m_repo.load_snapshot(id).snapshot.tree);
      } catch (const IntegrityError& e) {
        // Forgotten meanwhile (a forget running beside this prune): it needs nothing now.
        if (!m_repo.storage().stat(repo::object_key(repo::Kind::snapshot, id))) continue;
        throw IntegrityError(
            "{}; prune cannot tell which data this snapshot needs, so nothing was changed. Check "
            "it with backup-verify, and forget it by id (backup-prune forget {}) if it cannot be "
            "repaired",
            e.what(), id.hex().substr(0, 12));
      }
    }
    m_repo.load_index();
    m_index_files = m_repo.index_files();
    m_repo.storage().list("data/", [&](const storage::ObjectInfo& info) {
      Id32 id;
      if (parse_id(info.key.substr(info.key.rfind('/') + 1), id) &&
          info.key == repo::object_key(repo::Kind::data_blob, id)) {
        m_stored.emplace(id, info.size);
        if (info.mtime_ns) m_mtime.emplace(id, info.mtime_ns);
      }
    });
    for (auto& id : m_repo.list_ids(repo::Kind::condemned)) {
      try {
        std::string what = "condemnation record " + id.hex().substr(0, 8);
        auto sc = repo::decode_condemnation(m_repo.load_meta(repo::Kind::condemned, id), what);
        if (!m_repo.signed_by_full_key(sc.condemnation.signer, repo::condemnation_message(sc.body),
                                       sc.signature))
          throw IntegrityError("{} is not signed by a current full key of this repository", what);
        repo::Condemnation c = std::move(sc.condemnation);
        for (auto& r : c.packs) {
          auto& slot = m_condemned[r.id];
          // Condemned twice (an interrupted rewrite of a record): the later time is the safe one.
          if (c.time_ns >= slot.time_ns) slot = {r, c.time_ns};
          for (auto& b : r.header.blobs) m_condemned_blobs.emplace(b.id, std::make_pair(r.id, b));
        }
        m_records.emplace_back(id, std::move(c));
      } catch (const IntegrityError& e) {
        // Its packs are in no index: they are condemned afresh below, with a later time.
        log::warn("ignoring a damaged condemnation record: {}", e.what());
      }
    }
    // One record per indexed pack (the in-memory index is keyed by blob). Index files that
    // disagree about a pack hold a forged record (they are sealed with the metadata key, which
    // write-only keys hold too): the pack's own header decides, so that the consolidated index
    // never keeps the forged record and drops the real one.
    std::set<Id32> disputed;
    for (auto& idx : m_index_files)
      for (auto& rec : repo::decode_index(m_repo.load_meta(repo::Kind::index, idx),
                                          "index " + idx.hex().substr(0, 8))) {
        auto [it, first] = m_live_ids.emplace(rec.id, m_records_live.size());
        if (first)
          m_records_live.push_back(std::move(rec));
        else if (repo::encode_index({m_records_live[it->second]}) != repo::encode_index({rec}))
          disputed.insert(rec.id);
      }
    for (auto& id : disputed) settle(id);
  }

  void settle(const Id32& pack) {
    std::string why = "it is gone";
    try {
      bool damaged = false;
      if (auto own = read_pack_record(m_repo, pack, &damaged)) {
        if (!damaged) {
          log::warn(
              "index files disagree about pack {}: its own header decides (backup-verify "
              "--read-data names the wrong record)",
              pack_name(pack));
          auto& blobs = m_settled_blobs[pack];
          for (auto& b : own->header.blobs) blobs.insert(b.id);
          m_records_live[m_live_ids.at(pack)] = std::move(*own);
          return;
        }
        why = "it does not match its name";
      }
    } catch (const IntegrityError& e) {
      why = e.what();
    }
    throw IntegrityError(
        "index files disagree about pack {}, and the pack cannot settle it ({}); prune changed "
        "nothing (run backup-verify --read-data)",
        pack_name(pack), why);
  }

  void mark_used() {
    for (auto& [snap, root] : m_roots) walk(root, snap, 0);
  }

  Plan plan(const std::vector<repo::LockInfo>& locks, int64_t now) {
    Plan p;
    // Earlier condemnations.
    for (auto& [id, c] : m_condemned) {
      if (m_live_ids.count(id) || !m_stored.count(id)) {
        p.settled.insert(id);  // back in the index, or already gone
        continue;
      }
      bool needed = false;
      for (auto& b : c.record.header.blobs)
        if (m_used.count(b.id) && !m_repo.index().contains(b.id)) needed = true;
      if (needed) {
        p.revive.push_back(c.record);
        p.settled.insert(id);
        continue;
      }
      std::string why;
      if (now < c.time_ns + m_o.grace_ns)
        why = fmt::format("grace period until {}", repo::format_time(c.time_ns + m_o.grace_ns));
      else if (m_o.retention_ns && now < c.time_ns + m_o.retention_ns)
        why = fmt::format("object lock retention until {}",
                          repo::format_time(c.time_ns + m_o.retention_ns));
      else
        for (auto& l : locks)
          if (l.started_ns < c.time_ns + m_o.skew_ns) {
            why = fmt::format("{} by {}@{} (pid {}) running since {}", l.operation, l.user, l.host,
                              l.pid, repo::format_time(l.started_ns));
            break;
          }
      if (why.empty()) {
        p.remove.push_back(id);
        p.remove_bytes += m_stored[id];
        p.settled.insert(id);
      } else {
        ++p.waiting_packs;
        if (std::find(p.waiting.begin(), p.waiting.end(), why) == p.waiting.end())
          p.waiting.push_back(why);
      }
    }
    // Packs of the index: which blob location is the one kept (duplicates lose).
    // A pack's header is overhead, not waste: only the bytes of blobs nobody needs count as
    // unused (else every small pack would look mostly unused and be repacked forever).
    struct Usage {
      uint64_t used = 0, unused = 0;
      size_t used_blobs = 0;
    };
    std::vector<Usage> usage(m_records_live.size());
    for (size_t i = 0; i < m_records_live.size(); ++i) {
      const auto& rec = m_records_live[i];
      for (auto& b : rec.header.blobs) {
        bool claimed = false;
        if (m_used.count(b.id)) claimed = home(b.id) == rec.id;
        (claimed ? usage[i].used : usage[i].unused) += b.length;
        if (claimed) ++usage[i].used_blobs;
      }
    }
    std::vector<size_t> candidates;
    for (size_t i = 0; i < m_records_live.size(); ++i) {
      const auto& rec = m_records_live[i];
      if (usage[i].used_blobs == 0) {
        p.condemn.push_back(rec);
        p.condemn_bytes += rec.size;
      } else if (usage[i].unused &&
                 100.0 * double(usage[i].unused) / double(rec.size) > m_o.max_unused_percent) {
        candidates.push_back(i);
      } else {
        p.live.push_back(rec);
      }
    }
    // The most wasteful packs first, within the repack budget.
    std::sort(candidates.begin(), candidates.end(),
              [&](size_t a, size_t b) { return usage[a].unused > usage[b].unused; });
    for (size_t i : candidates) {
      const auto& rec = m_records_live[i];
      if (m_o.max_repack_bytes && p.repack_bytes + rec.size > m_o.max_repack_bytes) {
        p.live.push_back(rec);
        continue;
      }
      p.repack.push_back(rec);
      p.repack_bytes += rec.size;
      p.repack_used_bytes += usage[i].used;
    }
    for (auto& r : p.revive) p.live.push_back(r);
    // Packs nobody indexed (a backup that died before its index, or one still running: then
    // its lock holds the deletion back, and its index brings the pack back to life).
    for (auto& [id, size] : m_stored) {
      if (m_live_ids.count(id) || m_condemned.count(id)) continue;
      repo::PackRecord r;
      r.id = id;
      r.size = size;
      try {
        if (auto read = read_pack_record(m_repo, id)) r.header = std::move(read->header);
      } catch (const IntegrityError& e) {
        log::verbose("unindexed pack {} has no readable header: {}", pack_name(id), e.what());
      }
      p.condemn.push_back(std::move(r));
      p.condemn_bytes += size;
    }
    return p;
  }

  // Reads the live blobs of the packs to repack and stores them again in new packs.
  uint64_t repack(const std::vector<repo::PackRecord>& packs) {
    if (packs.empty()) return 0;
    repo::BlobSaver saver(m_repo);
    saver.ignore_index();
    uint64_t written = 0;
    for (auto& rec : packs) {
      cancel::check();
      Bytes data;
      std::string key = repo::object_key(repo::Kind::data_blob, rec.id);
      if (!m_repo.storage().get(key, data))
        throw IntegrityError("pack '{}' vanished while prune was repacking it", key);
      if (crypto::sha256(data) != rec.id)
        throw IntegrityError(
            "pack '{}' does not match its name (damaged); nothing of it was "
            "repacked — run backup-verify --read-data",
            key);
      repo::PackInfo info{rec.id, rec.size, rec.header.wrap};
      for (auto& b : rec.header.blobs) {
        if (!m_used.count(b.id)) continue;
        if (home(b.id) != rec.id) continue;
        if (uint64_t{b.offset} + b.length > data.size())
          throw IntegrityError("pack '{}' is shorter than its index says", key);
        Bytes plain = m_repo.decode_blob(info, b, ByteView(data.data() + b.offset, b.length));
        written += plain.size();
        saver.save(b.type, b.id, std::move(plain));
      }
    }
    saver.flush();
    return written;
  }

  // The pack whose copy of a blob the index uses (zero when none): the first location, as
  // readers take it, except those that a settled dispute showed to be forged.
  Id32 home(const Id32& blob) const {
    const auto& index = m_repo.index();
    if (m_settled_blobs.empty()) {
      auto loc = index.find(blob);
      return loc ? index.pack(loc->pack).id : Id32{};
    }
    for (auto& loc : index.find_all(blob)) {
      const Id32& pack = index.pack(loc.pack).id;
      auto it = m_settled_blobs.find(pack);
      if (it == m_settled_blobs.end() || it->second.count(blob)) return pack;
    }
    return Id32{};
  }

  // When the pack was written, if the listing said (0 = unknown).
  int64_t mtime(const Id32& pack) const {
    auto it = m_mtime.find(pack);
    return it == m_mtime.end() ? 0 : it->second;
  }
  const std::vector<Id32>& index_files() const { return m_index_files; }
  const std::vector<std::pair<Id32, repo::Condemnation>>& records() const { return m_records; }
  size_t used_count() const { return m_used.size(); }
  size_t snapshot_count() const { return m_roots.size(); }

 private:
  void walk(const Id32& tid, const Id32& snap, int depth) {
    if (!m_used.insert(tid).second) return;
    cancel::check();
    if (depth > k_max_depth || stack_low())
      throw IntegrityError("snapshot {}: directories nested more than {} deep; prune refuses",
                           snap.hex().substr(0, 12), depth - 1);
    auto read = [&](const Id32& id) {
      if (m_repo.index().contains(id)) return m_repo.read_tree_blob(id);
      if (auto it = m_condemned_blobs.find(id); it != m_condemned_blobs.end())
        return read_condemned_tree(id, it->second.first, it->second.second);
      throw IntegrityError(
          "snapshot {} needs directory data {} that is not in the index; prune changed nothing "
          "(run backup-verify to see the damage)",
          snap.hex().substr(0, 12), id.hex().substr(0, 16));
    };
    repo::Tree tree = read(tid);
    m_used.insert(tree.parts.begin(), tree.parts.end());  // a long listing's parts
    repo::join_parts(tree, read, "tree " + tid.hex().substr(0, 16));
    for (auto& n : tree.nodes) {
      for (auto& c : n.content)
        if (!c.hole) m_used.insert(c.chunk);
      if (n.subtree) walk(*n.subtree, snap, depth + 1);
    }
  }

  repo::Tree read_condemned_tree(const Id32& tid, const Id32& pack, const repo::BlobEntry& e) {
    const auto& rec = m_condemned.at(pack).record;
    Bytes stored;
    std::string key = repo::object_key(repo::Kind::data_blob, pack);
    if (e.type != repo::BlobType::tree ||
        !m_repo.storage().get(key, stored, storage::Range{e.offset, e.length}))
      throw IntegrityError("directory data {} is only in condemned pack '{}', which is gone",
                           tid.hex().substr(0, 16), key);
    repo::PackInfo info{pack, rec.size, rec.header.wrap};
    return repo::decode_tree(m_repo.decode_blob(info, e, stored),
                             "tree " + tid.hex().substr(0, 16));
  }

  repo::Repository& m_repo;
  const GcOptions& m_o;
  std::vector<std::pair<Id32, Id32>> m_roots;  // snapshot, tree
  std::vector<Id32> m_index_files;
  std::unordered_map<Id32, uint64_t, Id32Hash> m_stored;
  std::unordered_map<Id32, int64_t, Id32Hash> m_mtime;
  std::unordered_map<Id32, Condemned, Id32Hash> m_condemned;
  // Blobs of condemned packs: a tree a backup reused from one is read from there (the pack is
  // then revived, as for data).
  std::unordered_map<Id32, std::pair<Id32, repo::BlobEntry>, Id32Hash> m_condemned_blobs;
  std::vector<std::pair<Id32, repo::Condemnation>> m_records;
  std::vector<repo::PackRecord> m_records_live;
  // Packs whose index records disagreed: the blobs their own headers list.
  std::unordered_map<Id32, IdSet, Id32Hash> m_settled_blobs;
  std::unordered_map<Id32, size_t, Id32Hash> m_live_ids;
  IdSet m_used;
};

// S3 Object Lock: every object still needed (live packs, index files, snapshots, tombstones,
// keys, config) whose retention ends within half the retention period gets it extended to
// now + the period, so data in use stays protected however old it is. Objects the listing
// shows as written recently keep the retention of their upload and cost no request; the others
// are looked up (HEAD) and extended only when due. Returns the number extended.
size_t extend_retention(repo::Repository& repo,
                        const std::vector<std::pair<std::string, int64_t>>& live, int64_t retention,
                        int64_t now) {
  int64_t due = now + retention / 2, until = now + retention;
  size_t extended = 0;
  for (size_t i = 0; i < live.size(); ++i) {
    cancel::check();
    auto& [key, mtime] = live[i];
    if (mtime && mtime + retention > due) continue;
    if (repo.storage().retained_until(key) > due) continue;
    repo.storage().retain_until(key, until);
    ++extended;
  }
  return extended;
}

}  // namespace

void require_deletes(repo::Repository& repo) {
  repo::LockInfo probe;
  probe.host = host_name();
  probe.user = user_name();
  probe.time_ns = probe.started_ns = repo::now_ns();
  probe.expires_ns = probe.time_ns;  // already stale: harmless if it cannot be removed
  probe.operation = "delete probe";
  Id32 id = repo.save_meta(repo::Kind::lock, repo::encode_lock(probe));
  try {
    repo.storage().remove(repo::object_key(repo::Kind::lock, id));
  } catch (const storage::PermanentError& e) {
    throw Error(Exit::not_permitted,
                "the storage refuses deletes ({}): it is append-only or immutable for these "
                "credentials, so nothing can be forgotten or pruned here; nothing was changed. "
                "Run forget and prune with credentials that may delete",
                e.what());
  }
}

int gc(repo::Repository& repo, const GcOptions& o, json* json_out) {
  repo.require_read("prune (it reads every directory to find the data still needed)");
  std::unique_ptr<repo::RepoLock> lock;
  if (!o.dry_run) lock = repo::RepoLock::acquire(repo, false, "prune", true);
  // Locks before snapshots: a backup that started before a condemnation is then either still
  // running (its lock is seen) or finished (its snapshot is listed after this, and what it
  // used is revived). Other prunes are excluded by the lock.
  Id32 own = lock ? lock->id() : Id32{};
  auto locks = repo::RepoLock::live_locks(repo, own);
  int64_t now = repo::now_ns();
  Collector c(repo, o);
  c.load();
  c.mark_used();
  Plan p = c.plan(locks, now);

  uint64_t repacked_written = 0;
  size_t extended = 0;
  int64_t retained_until = 0;
  size_t index_after = c.index_files().size();
  bool rewrite_index =
      !p.condemn.empty() || !p.repack.empty() || !p.revive.empty() || c.index_files().size() > 1;
  int64_t stale_before = now - std::max(o.grace_ns, k_upload_age_ns);
  storage::Storage::Leftovers stale = repo.storage().stale_uploads(stale_before, false);
  if (!o.dry_run) {
    lock->check_valid();
    if (stale.count) stale = repo.storage().stale_uploads(stale_before, true);
    // Phase two of earlier runs first: these packs are in no index.
    for (size_t i = 0; i < p.remove.size(); ++i) {
      cancel::check();
      if (i % 64 == 63) lock->check_valid();  // a prune stopped mid-way must not go on
      repo.storage().remove(repo::object_key(repo::Kind::data_blob, p.remove[i]));
    }
    // Live blobs of mostly unused packs move to new packs (and a new index file) first.
    repacked_written = c.repack(p.repack);
    if (rewrite_index) {
      lock->check_valid();
      write_index(repo, p.live);
      for (auto& id : c.index_files())
        repo.storage().remove(repo::object_key(repo::Kind::index, id));
      index_after = repo.list_ids(repo::Kind::index).size();
    }
    // Phase one: only now, with the packs out of every index file, is the time recorded.
    std::vector<repo::PackRecord> condemned = p.condemn;
    condemned.insert(condemned.end(), p.repack.begin(), p.repack.end());
    if (!condemned.empty()) {
      repo::Condemnation rec;
      rec.time_ns = repo::now_ns();
      rec.host = host_name();
      rec.packs = std::move(condemned);
      rec.signer = repo.unlocked().slot.id;
      repo.save_meta(repo::Kind::condemned, repo::encode_condemnation(rec, repo.signing_key()));
    }
    // Earlier records lose what was deleted, revived or is back in the index.
    for (auto& [id, rec] : c.records()) {
      repo::Condemnation rest = rec;
      std::erase_if(rest.packs, [&](const repo::PackRecord& r) { return p.settled.count(r.id); });
      if (rest.packs.size() == rec.packs.size()) continue;
      rest.signer = repo.unlocked().slot.id;
      if (!rest.packs.empty())
        repo.save_meta(repo::Kind::condemned, repo::encode_condemnation(rest, repo.signing_key()));
      repo.storage().remove(repo::object_key(repo::Kind::condemned, id));
    }
    if (o.retention_ns) {
      std::vector<std::pair<std::string, int64_t>> live;
      for (auto& r : p.live)
        live.emplace_back(repo::object_key(repo::Kind::data_blob, r.id), c.mtime(r.id));
      for (const char* dir : {"index/", "snapshots/", "tombstones/", "keys/", "config"})
        repo.storage().list(dir, [&](const storage::ObjectInfo& info) {
          live.emplace_back(info.key, info.mtime_ns);
        });
      lock->check_valid();
      extended = extend_retention(repo, live, o.retention_ns, repo::now_ns());
      retained_until = repo::now_ns() + o.retention_ns;
    }
    lock->release();
  }

  uint64_t live_bytes = 0;
  for (auto& r : p.live) live_bytes += r.size;
  if (o.json) {
    json doc{{"dry_run", o.dry_run},
             {"snapshots", c.snapshot_count()},
             {"used_blobs", c.used_count()},
             {"packs_deleted", p.remove.size()},
             {"bytes_freed", p.remove_bytes},
             {"packs_condemned", p.condemn.size() + p.repack.size()},
             {"bytes_condemned", p.condemn_bytes + p.repack_bytes},
             {"packs_repacked", p.repack.size()},
             {"bytes_repacked", p.repack_used_bytes},
             {"packs_revived", p.revive.size()},
             {"packs_waiting", p.waiting_packs},
             {"waiting_for", p.waiting},
             {"packs_live", p.live.size()},
             {"bytes_live", live_bytes},
             {"retention_extended", extended},
             {"stale_uploads", stale.count},
             {"stale_upload_bytes", stale.bytes},
             {"index_files_before", c.index_files().size()},
             {"index_files_after", o.dry_run ? json(nullptr) : json(index_after)}};
    if (json_out)
      *json_out = std::move(doc);
    else
      fmt::print("{}\n", doc.dump());
    return 0;
  }
  const char* would = o.dry_run ? "would " : "";
  log::info("{} snapshots need {} blobs in {} packs ({})", c.snapshot_count(), c.used_count(),
            p.live.size() + p.repack.size(), human_bytes(live_bytes + p.repack_bytes));
  log::info("{}delete {} condemned pack(s): {} freed", would, p.remove.size(),
            human_bytes(p.remove_bytes));
  if (!p.revive.empty())
    log::info("{}revive {} condemned pack(s) that a newer snapshot needs", would, p.revive.size());
  if (p.waiting_packs)
    log::info("{} condemned pack(s) wait: {}", p.waiting_packs, fmt::join(p.waiting, "; "));
  log::info("{}condemn {} unused pack(s) ({}), deleted by a prune after {}", would,
            p.condemn.size() + p.repack.size(), human_bytes(p.condemn_bytes + p.repack_bytes),
            repo::format_time(repo::now_ns() + o.grace_ns));
  if (!p.repack.empty())
    log::info("{}repack {} mostly unused pack(s): {} of live data {}", would, p.repack.size(),
              human_bytes(o.dry_run ? p.repack_used_bytes : repacked_written),
              o.dry_run ? "to move" : "moved");
  if (!o.dry_run && rewrite_index)
    log::info("index: {} file(s) → {}", c.index_files().size(), index_after);
  if (stale.count)
    log::info("{}remove {} unfinished upload(s) that interrupted runs left ({})", would,
              stale.count, human_bytes(stale.bytes));
  if (extended)
    log::info("extended the Object Lock retention of {} object(s) still in use to {}", extended,
              repo::format_time(retained_until));
  return 0;
}

}  // namespace lifeboat::ops::prune
