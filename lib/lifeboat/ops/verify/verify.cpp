#include "lifeboat/ops/verify/verify.hpp"
#include "lifeboat/repo/lock.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <utility>

#include "lifeboat/core/cancel.hpp"
#include "lifeboat/core/log.hpp"
#include "lifeboat/core/reporter.hpp"
#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/util/stack.hpp"

namespace lifeboat::ops::verify {

using nlohmann::json;

namespace {

struct Problems {
  std::vector<std::pair<std::string, std::string>> list;
  void add(std::string object, std::string message) {
    log::error("{}: {}", object, message);
    list.emplace_back(std::move(object), std::move(message));
  }
};

int finish(const Options& o, const Problems& p, json summary,
           const std::vector<std::string>& affected) {
  if (o.json) {
    json errors = json::array();
    for (auto& [obj, msg] : p.list) errors.push_back({{"object", obj}, {"message", msg}});
    summary["errors"] = errors;
    summary["affected_files"] = affected;
    summary["ok"] = p.list.empty();
    fmt::print("{}\n", summary.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    for (auto& f : affected) log::error("affected: {}", f);
    if (p.list.empty())
      log::info("no errors found");
    else
      log::error("{} problem(s) found: the repository is damaged{}", p.list.size(),
                 affected.empty()
                     ? ""
                     : fmt::format(" ({} file(s) affected, listed above)", affected.size()));
  }
  return p.list.empty() ? 0 : static_cast<int>(Exit::integrity);
}

// Picks the packs of a --read-data-subset: "N/M" (slice N of M, 1-based) or "P%" (random).
std::vector<repo::PackInfo> choose_subset(std::vector<repo::PackInfo> packs,
                                          const std::string& spec) {
  std::sort(packs.begin(), packs.end(), [](auto& a, auto& b) { return a.id < b.id; });
  if (spec.empty()) return packs;
  if (!spec.empty() && spec.back() == '%') {
    double pct = 0;
    try {
      pct = std::stod(spec.substr(0, spec.size() - 1));
    } catch (...) {
      pct = -1;
    }
    if (!(pct > 0 && pct <= 100))
      throw UsageError("--read-data-subset '{}': a percentage must be in (0, 100]", spec);
    size_t want = static_cast<size_t>(std::ceil(packs.size() * pct / 100.0));
    for (size_t i = packs.size(); i > 1; --i) {
      uint64_t r;
      crypto::random_bytes(std::span(reinterpret_cast<std::byte*>(&r), sizeof r));
      std::swap(packs[i - 1], packs[r % i]);
    }
    packs.resize(std::min(want, packs.size()));
    return packs;
  }
  unsigned n = 0, m = 0;
  char extra = 0;
  if (std::sscanf(spec.c_str(), "%u/%u%c", &n, &m, &extra) != 2 || m == 0 || n == 0 || n > m)
    throw UsageError("--read-data-subset '{}' is not N/M (1 <= N <= M) or P%", spec);
  std::vector<repo::PackInfo> out;
  for (size_t i = 0; i < packs.size(); ++i)
    if (i % m == n - 1) out.push_back(packs[i]);
  return out;
}

// Re-hashes every content-addressed object against its name (no key needed).
void quick_check(storage::Storage& storage, Problems& problems, json& summary) {
  uint64_t objects = 0, bytes = 0;
  for (const char* dir : {"data/", "index/", "snapshots/", "keys/", "tombstones/", "condemned/"}) {
    storage.list(dir, [&](const storage::ObjectInfo& info) {
      cancel::check();
      Bytes data;
      if (!storage.get(info.key, data)) return;  // removed meanwhile
      ++objects;
      bytes += data.size();
      std::string name = info.key.substr(info.key.rfind('/') + 1);
      Id32 id;
      if (!parse_id(name, id)) {
        problems.add(info.key, "unexpected object name");
        return;
      }
      if (std::string(dir) == "keys/") {
        try {
          auto slot = repo::decode_slot(data, info.key);
          if (slot.id != id) problems.add(info.key, "key slot stored under another slot's name");
        } catch (const IntegrityError& e) {
          problems.add(info.key, e.what());
        }
        return;
      }
      if (std::string(dir) == "data/" && info.key.compare(5, 2, name.substr(0, 2)) != 0)
        problems.add(info.key, "pack stored in the wrong directory");
      if (crypto::sha256(data) != id)
        problems.add(info.key, "content does not match its name (bit rot or tampering)");
    });
  }
  log::info("re-hashed {} objects ({} bytes)", objects, bytes);
  summary["objects_rehashed"] = objects;
  summary["bytes_rehashed"] = bytes;
}

bool same_entry(const repo::BlobEntry& a, const repo::BlobEntry& b) {
  return a.id == b.id && a.type == b.type && a.offset == b.offset && a.length == b.length &&
         a.raw_length == b.raw_length && a.compressed == b.compressed && a.xxh == b.xxh;
}

bool same_header(const repo::PackHeader& a, const repo::PackHeader& b) {
  return a.wrap.epoch == b.wrap.epoch && a.wrap.ephemeral_public == b.wrap.ephemeral_public &&
         a.wrap.wrapped == b.wrap.wrapped &&
         std::equal(a.blobs.begin(), a.blobs.end(), b.blobs.begin(), b.blobs.end(), same_entry);
}

}  // namespace

int quick(storage::Storage& storage, const Options& o) {
  Problems problems;
  json summary = {{"mode", "quick"}};
  quick_check(storage, problems, summary);
  return finish(o, problems, summary, {});
}

int run(repo::Repository& repo, const Options& o) {
  // Directory listings are sealed like file content: a write-only key could check only part
  // of the repository, and a partial check must not look like a clean one.
  repo.require_read("verifying the repository (use --quick to check stored bytes without a key)");
  Problems problems;
  json quick_summary = json::object();
  if (o.quick) quick_check(repo.storage(), problems, quick_summary);
  // Shared, like a backup's: a prune waits for it before deleting packs it may read.
  auto lock = repo::RepoLock::acquire_for_reading(repo, "verify");
  // 1. index
  try {
    repo.load_index();
  } catch (const IntegrityError& e) {
    problems.add("index", e.what());
    return finish(o, problems, json{{"mode", "structure"}}, {});
  }
  // 2. packs present with the right size
  std::map<Id32, uint64_t> stored;
  repo.storage().list("data/", [&](const storage::ObjectInfo& info) {
    Id32 id;
    if (parse_id(info.key.substr(info.key.rfind('/') + 1), id)) stored[id] = info.size;
  });
  auto packs = repo.index().packs();
  for (auto& p : packs) {
    auto it = stored.find(p.id);
    std::string key = repo::object_key(repo::Kind::data_blob, p.id);
    if (it == stored.end())
      problems.add(key, "pack is missing (its blobs are lost)");
    else if (it->second != p.size)
      problems.add(key, fmt::format("pack has {} bytes, the index says {} (truncated or damaged)",
                                    it->second, p.size));
  }
  // 3. snapshots and signatures
  std::vector<repo::SnapshotRecord> snapshots;
  for (auto& id : repo.list_ids(repo::Kind::snapshot)) {
    try {
      auto r = repo.load_snapshot(id);
      if (!r.trusted && !o.allow_unknown_signer)
        problems.add("snapshots/" + id.hex(),
                     r.signer_status + " (use --allow-unknown-signer to accept it)");
      snapshots.push_back(std::move(r));
    } catch (const IntegrityError& e) {
      problems.add("snapshots/" + id.hex(), e.what());
    }
  }
  try {
    repo.check_high_water_mark(snapshots);
  } catch (const IntegrityError& e) {
    problems.add("snapshots/", e.what());
  }
  // 4. every referenced blob indexed (trees need a full key)
  std::set<Id32> seen_trees;
  uint64_t trees = 0, references = 0;
  std::function<void(const Id32&, const std::string&, int)> walk = [&](const Id32& tid,
                                                                       const std::string& path,
                                                                       int depth) {
    if (!seen_trees.insert(tid).second) return;
    cancel::check();
    if (!repo.index().contains(tid)) {
      problems.add("tree " + tid.hex().substr(0, 16),
                   fmt::format("directory '{}' is not in the index (missing data)",
                               path.empty() ? "/" : printable(path)));
      return;
    }
    if (depth > 4096 || stack_low()) {  // what a restore cannot follow either
      problems.add("tree " + tid.hex().substr(0, 16),
                   fmt::format("directory '{}' is nested {} levels deep: not checked "
                               "below, and a restore skips it",
                               printable(path), depth));
      return;
    }
    // A part at a time: a directory of a million entries is not held whole. A damaged
    // part is reported after the nodes of the parts before it were checked.
    bool counted = false;
    try {
      repo.visit_tree(tid, [&](repo::Tree& part) {
        if (!std::exchange(counted, true)) ++trees;
        for (auto& n : part.nodes) {
          std::string p = path + "/" + n.name;
          for (auto& c : n.content) {
            if (c.hole) continue;
            ++references;
            if (!repo.index().contains(c.chunk))
              problems.add("blob " + c.chunk.hex().substr(0, 16),
                           fmt::format("'{}' needs it, but it is not in the index", printable(p)));
          }
          if (n.subtree) walk(*n.subtree, p, depth + 1);
        }
      });
    } catch (const IntegrityError& e) {
      problems.add("tree " + tid.hex().substr(0, 16), e.what());
    }
  };
  auto walk_all = [&] {
    for (auto& s : snapshots) walk(s.snapshot.tree, "", 0);
  };

  auto summarise = [&] {
    json summary = {{"mode", o.read_data || !o.subset.empty() ? "read-data" : "structure"},
                    {"packs", packs.size()},
                    {"snapshots", snapshots.size()},
                    {"trees", trees},
                    {"references", references}};
    summary.update(quick_summary);
    return summary;
  };
  std::vector<std::string> affected;
  if (!o.read_data && o.subset.empty()) {
    walk_all();
    log::info("checked {} packs, {} snapshots, {} trees, {} content references", packs.size(),
              snapshots.size(), trees, references);
    return finish(o, problems, summarise(), affected);
  }

  // 5. read data, while this thread walks the trees (4): the walk is one core's work, about a
  // quarter of a local --read-data on two cores when it came first (findings are reported in
  // the same order either way: the walk's, then each pack's in pack order).
  auto chosen = choose_subset(packs, o.subset);
  std::set<Id32> damaged;
  uint64_t blobs = 0, bytes = 0;
  // Every index file's record of each chosen pack (the in-memory index is keyed by blob and
  // keeps one record per pack): each is checked against the pack's own header, so that a
  // forged or damaged record is found whichever index file holds it.
  struct IndexRecord {
    Id32 index_file;
    repo::PackHeader header;
  };
  std::map<Id32, std::vector<IndexRecord>> by_pack;
  {
    std::set<Id32> wanted;
    for (auto& p : chosen) wanted.insert(p.id);
    for (auto& idx : repo.index_files()) {
      for (auto& rec : repo::decode_index(repo.load_meta(repo::Kind::index, idx), "index")) {
        if (!wanted.count(rec.id)) continue;
        auto& records = by_pack[rec.id];
        bool same = std::any_of(records.begin(), records.end(), [&](const IndexRecord& r) {
          return same_header(r.header, rec.header);
        });
        if (!same) records.push_back({idx, std::move(rec.header)});
      }
    }
  }
  // Packs are read on the repository's transfers (--connections) at once; each pack's findings
  // are kept apart and reported in pack order, so the output does not depend on timing.
  struct PackResult {
    std::vector<std::pair<std::string, std::string>> problems;
    std::vector<Id32> damaged;
    uint64_t blobs = 0, bytes = 0;
  };
  for (auto& p : chosen) by_pack[p.id];  // no insertion once the threads run
  std::vector<PackResult> results(chosen.size());
  auto elsewhere = [&](const Id32& blob, const Id32& pack) {
    for (auto& loc : repo.index().find_all(blob))
      if (repo.index().pack(loc.pack).id != pack) return true;
    return false;
  };
  // The worker's buffers, kept from pack to pack and blob to blob: a fresh one is zero-filled
  // and faulted in each time (for the packs, a tenth of a local verify's time; for the
  // decrypted and decompressed blobs, another tenth).
  struct Buffers {
    Bytes pack, plain, raw;
  };
  auto check_pack = [&](size_t i, Buffers& buffers) {
    Bytes& data = buffers.pack;
    const repo::PackInfo& p = chosen[i];
    PackResult& r = results[i];
    const auto& records = by_pack.find(p.id)->second;
    std::string key = repo::object_key(repo::Kind::data_blob, p.id);
    if (!repo.storage().get(key, data)) {
      for (auto& rec : records)
        for (auto& b : rec.header.blobs) r.damaged.push_back(b.id);
      return;  // already reported as missing
    }
    r.bytes += data.size();
    bool intact = crypto::sha256(data) == p.id;
    if (!intact)
      r.problems.emplace_back(key, "content does not match its name (damaged or tampered)");
    // An intact pack's own header (sealed in it, and named by its hash) says what it holds;
    // otherwise the first index record stands in.
    std::optional<repo::PackHeader> own;
    try {
      auto header = repo::parse_pack_trailer(repo.keys(), data, "pack '" + key + "'");
      if (intact) own = std::move(header);
    } catch (const IntegrityError& e) {
      r.problems.emplace_back(key, std::string("header: ") + e.what());
    }
    static const std::vector<repo::BlobEntry> none;
    const auto& entries = own ? own->blobs : records.empty() ? none : records.front().header.blobs;
    for (auto& rec : records) {
      if (own ? same_header(rec.header, *own) : &rec == &records.front()) continue;
      r.problems.emplace_back(
          repo::object_key(repo::Kind::index, rec.index_file),
          fmt::format("its record of pack {} disagrees with {} (a damaged or forged index file)",
                      p.id.hex().substr(0, 16),
                      own ? "the pack's own header" : "another index file's record"));
      // A blob the record places wrongly is damaged unless another pack holds it too (the
      // reader then falls back to that copy, which is checked with its own pack).
      for (auto& b : rec.header.blobs) {
        bool listed = std::any_of(entries.begin(), entries.end(),
                                  [&](const repo::BlobEntry& e) { return same_entry(e, b); });
        if (!listed && !elsewhere(b.id, p.id)) r.damaged.push_back(b.id);
      }
    }
    for (auto& b : entries) {
      ++r.blobs;
      if (uint64_t{b.offset} + b.length > data.size()) {
        r.problems.emplace_back(key,
                                fmt::format("blob {} is beyond the end of the pack (truncated)",
                                            b.id.hex().substr(0, 16)));
        r.damaged.push_back(b.id);
        continue;
      }
      ByteView stored(data.data() + b.offset, b.length);
      if (xxh3_128(stored) != b.xxh) {
        r.problems.emplace_back(key,
                                fmt::format("blob {} is damaged (checksum mismatch at offset {})",
                                            b.id.hex().substr(0, 16), b.offset));
        r.damaged.push_back(b.id);
        continue;
      }
      try {
        repo.decode_blob_into(p, b, stored, buffers.plain, buffers.raw);
      } catch (const IntegrityError& e) {
        r.problems.emplace_back(key, e.what());
        r.damaged.push_back(b.id);
      }
    }
  };
  std::atomic<size_t> next{0};
  std::mutex error_mutex;
  std::exception_ptr error;
  auto worker = [&] {
    Buffers buffers;
    for (size_t i; (i = next++) < chosen.size();) {
      {
        std::lock_guard lock(error_mutex);
        if (error) return;
      }
      try {
        cancel::check();
        check_pack(i, buffers);
      } catch (...) {  // a storage failure or a signal: stop, and rethrow on the main thread
        std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
        return;
      }
    }
  };
  size_t n_threads = std::min<size_t>(std::max(1u, repo.transfers()), chosen.size());
  std::vector<std::thread> threads;
  auto join = [&] {
    for (auto& t : threads)
      if (t.joinable()) t.join();
  };
  try {
    for (size_t t = 1; t < n_threads; ++t) threads.emplace_back(worker);
    walk_all();
  } catch (...) {  // a signal or a storage failure in the walk: stop the readers first
    {
      std::lock_guard lock(error_mutex);
      if (!error) error = std::current_exception();
    }
    join();
    std::rethrow_exception(error);
  }
  json summary = summarise();
  worker();
  join();
  if (error) std::rethrow_exception(error);
  for (auto& r : results) {
    for (auto& [object, message] : r.problems) problems.add(object, message);
    damaged.insert(r.damaged.begin(), r.damaged.end());
    blobs += r.blobs;
    bytes += r.bytes;
  }
  summary["packs_read"] = chosen.size();
  summary["blobs_read"] = blobs;
  summary["bytes_read"] = bytes;
  log::info("read {} of {} packs ({} blobs, {} bytes)", chosen.size(), packs.size(), blobs, bytes);

  // 6. name the files that lost data
  if (!damaged.empty()) {
    std::set<Id32> visited;
    std::function<void(const Id32&, const std::string&, const std::string&, int)> find =
        [&](const Id32& tid, const std::string& path, const std::string& snap, int depth) {
          if (depth > 4096 || stack_low() || !visited.insert(tid).second) return;
          auto lost = [&] {
            affected.push_back(fmt::format("snapshot {}: directory {}", snap,
                                           path.empty() ? "/" : printable(path)));
          };
          if (damaged.count(tid)) return lost();
          repo::Tree tree;
          try {
            tree = repo.read_tree_blob(tid);
            for (auto& part : tree.parts)
              if (damaged.count(part)) return lost();
            repo::join_parts(
                tree, [&](const Id32& part) { return repo.read_tree_blob(part); },
                "tree " + tid.hex().substr(0, 16));
          } catch (const IntegrityError&) {
            return;
          }
          for (auto& n : tree.nodes) {
            std::string p = path + "/" + n.name;
            for (auto& c : n.content)
              if (!c.hole && damaged.count(c.chunk)) {
                affected.push_back(fmt::format("snapshot {}: {}", snap, printable(p)));
                break;
              }
            if (n.subtree) find(*n.subtree, p, snap, depth + 1);
          }
        };
    for (auto& s : snapshots) {
      visited.clear();
      find(s.snapshot.tree, "", s.id.hex().substr(0, 8), 0);
    }
  }
  return finish(o, problems, summary, affected);
}

}  // namespace lifeboat::ops::verify
