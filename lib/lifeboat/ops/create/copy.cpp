// backup-create copy: copies snapshots from one repository to another, uploading only the
// blobs the destination lacks. Blob ids are keyed per repository, so every blob is read from
// the source, renamed by the destination's key (re-encrypted), and trees are rewritten with
// the new ids; a snapshot already in the destination (same time, host, job, kind, paths and
// tags) is not copied again. Only trusted source snapshots are copied: the destination key
// signs the copy, so an untrusted one would come out trusted.
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <unordered_map>

#include "lifeboat/core/cancel.hpp"
#include "lifeboat/core/log.hpp"
#include "lifeboat/core/reporter.hpp"
#include "lifeboat/ops/create/create.hpp"
#include "lifeboat/repo/blob_saver.hpp"
#include "lifeboat/repo/lock.hpp"
#include "lifeboat/util/stack.hpp"

namespace lifeboat::ops::create {
namespace {

using Identity = std::tuple<int64_t, std::string, std::string, std::string,
                            std::vector<std::string>, std::vector<std::string>>;

Identity identity(const repo::Snapshot& s) {
  return {s.time_ns, s.host, s.job, s.kind, s.paths, s.tags};
}

constexpr int k_max_depth = 4096;

class Copier {
 public:
  Copier(repo::Repository& src, repo::Repository& dst, repo::BlobSaver& saver)
      : m_src(src), m_dst(dst), m_saver(saver) {}

  Id32 tree(const Id32& src_id, int depth) {
    if (auto it = m_trees.find(src_id); it != m_trees.end()) return it->second;
    if (depth > k_max_depth || stack_low())
      throw IntegrityError("tree {} is nested more than {} deep", src_id.hex().substr(0, 16),
                           depth - 1);
    cancel::check();
    repo::Tree t = m_src.read_tree(src_id);
    for (auto& node : t.nodes) {
      for (auto& item : node.content)
        if (item.hole == 0) item.chunk = blob(item.chunk);
      if (node.subtree) node.subtree = tree(*node.subtree, depth + 1);
    }
    t.parts.clear();  // split again below if long (parts' ids differ under another key)
    Id32 id = repo::save_tree_parts(t, [&](Bytes data) {
      Id32 part = m_dst.mac().compute(data);
      m_saver.save(repo::BlobType::tree, part, std::move(data));
      return part;
    });
    m_trees.emplace(src_id, id);
    return id;
  }

  uint64_t blobs_read() const { return m_blobs_read; }

 private:
  Id32 blob(const Id32& src_id) {
    if (auto it = m_blobs.find(src_id); it != m_blobs.end()) return it->second;
    Bytes data = m_src.read_blob(src_id);
    ++m_blobs_read;
    Id32 id = m_dst.mac().compute(data);
    m_saver.save(repo::BlobType::data, id, std::move(data));
    m_blobs.emplace(src_id, id);
    return id;
  }

  repo::Repository& m_src;
  repo::Repository& m_dst;
  repo::BlobSaver& m_saver;
  std::unordered_map<Id32, Id32, Id32Hash> m_trees;
  std::unordered_map<Id32, Id32, Id32Hash> m_blobs;
  uint64_t m_blobs_read = 0;
};

}  // namespace

int copy(repo::Repository& src, repo::Repository& dst, const CopyOptions& o) {
  auto start = std::chrono::steady_clock::now();
  if (src.config().id == dst.config().id)
    throw UsageError("--from and --to are the same repository ({})", src.config().id.hex());
  src.require_read("copying snapshots");
  auto records = src.load_snapshots();
  std::vector<const repo::SnapshotRecord*> selected;
  int skipped = 0;
  if (o.snapshots.empty()) {
    for (const auto& r : records) {
      if (r.damaged || !o.filter.matches(r.snapshot)) {
        if (r.damaged) {
          log::warn("snapshot {} is damaged and is not copied: {}", r.id.hex().substr(0, 8),
                    r.signer_status);
          ++skipped;
        }
        continue;
      }
      if (!r.trusted) {
        log::warn("snapshot {} is not copied: {} (its signer is not trusted here)",
                  r.id.hex().substr(0, 8), r.signer_status);
        ++skipped;
        continue;
      }
      selected.push_back(&r);
    }
  } else {
    for (const auto& spec : o.snapshots) {
      const auto& r = repo::resolve_snapshot(records, spec, o.filter);
      if (!r.trusted)
        throw Error(Exit::integrity, "snapshot {} is not trusted ({}); it is not copied",
                    r.id.hex().substr(0, 8), r.signer_status);
      if (std::find(selected.begin(), selected.end(), &r) == selected.end()) selected.push_back(&r);
    }
  }

  // A shared lock on each side (as a backup takes): a prune of either repository sees that
  // data is being read from the source and written to the destination.
  std::unique_ptr<repo::RepoLock> lock, src_lock;
  if (!o.dry_run) {
    src_lock = repo::RepoLock::acquire(src, false, "copy (source)");
    lock = repo::RepoLock::acquire(dst, false, "copy");
  }
  dst.load_index();
  std::set<Identity> present;
  for (const auto& r : dst.load_snapshots())
    if (!r.damaged) present.insert(identity(r.snapshot));
  src.load_index();

  nlohmann::json out = nlohmann::json::array();
  repo::BlobSaver saver(dst);
  if (lock) saver.set_index_guard([&] { lock->check_valid(); });
  Copier copier(src, dst, saver);
  int copied = 0, already = 0;
  for (const auto* r : selected) {
    std::string short_id = r->id.hex().substr(0, 8);
    if (present.count(identity(r->snapshot))) {
      log::verbose("snapshot {} is already in the destination", short_id);
      out.push_back({{"source", r->id.hex()}, {"status", "present"}});
      ++already;
      continue;
    }
    if (o.dry_run) {
      log::info("would copy snapshot {} ({}, {})", short_id, repo::format_time(r->snapshot.time_ns),
                printable(r->snapshot.host));
      out.push_back({{"source", r->id.hex()}, {"status", "would copy"}});
      continue;
    }
    repo::Snapshot s = r->snapshot;
    s.tree = copier.tree(r->snapshot.tree, 0);
    // Everything the snapshot names is stored and indexed before the snapshot is written.
    saver.flush();
    lock->check_valid();
    Id32 id = dst.save_snapshot(s);
    present.insert(identity(s));
    ++copied;
    log::info("copied snapshot {} as {}", short_id, id.hex().substr(0, 8));
    out.push_back({{"source", r->id.hex()}, {"destination", id.hex()}, {"status", "copied"}});
  }
  saver.flush();
  if (lock) lock->release();
  if (src_lock) src_lock->release();
  auto stats = saver.stats();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (o.json) {
    nlohmann::json j = {{"snapshots", out},
                        {"copied", copied},
                        {"skipped", skipped},
                        {"blobs_read", copier.blobs_read()},
                        {"blobs_added", stats.blobs_added},
                        {"bytes_added", stats.bytes_added},
                        {"bytes_stored", stats.bytes_stored},
                        {"duration_seconds", seconds}};
    fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    log::info("{} snapshot(s) {}, {} already present{}; {} new blobs, {} bytes stored in {:.1f} s",
              o.dry_run ? selected.size() - static_cast<size_t>(already) : copied,
              o.dry_run ? "to copy" : "copied", already,
              skipped ? fmt::format(", {} skipped", skipped) : std::string(), stats.blobs_added,
              stats.bytes_stored, seconds);
  }
  return skipped ? static_cast<int>(Exit::partial) : 0;
}

}  // namespace lifeboat::ops::create
