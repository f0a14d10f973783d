#include "lifeboat/ops/restore/restore.hpp"

#include <unistd.h>

#include <chrono>
#include <map>

#include <nlohmann/json.hpp>

#include "lifeboat/core/log.hpp"
#include "lifeboat/core/reporter.hpp"
#include "lifeboat/repo/lock.hpp"
#include "lifeboat/restore/restorer.hpp"
#include "lifeboat/restore/tar.hpp"
#include "lifeboat/util/fs.hpp"
#include "lifeboat/util/stack.hpp"

namespace lifeboat::ops::restore {

using nlohmann::json;

repo::SnapshotRecord select_snapshot(repo::Repository& repo, const Selection& sel,
                                     const std::string& spec) {
  auto records = repo.load_snapshots();
  std::vector<repo::SnapshotRecord> usable;
  for (auto& r : records) usable.push_back(r);
  const auto& r = repo::resolve_snapshot(usable, spec, sel.filter);
  if (r.damaged)
    throw IntegrityError("snapshot {} is damaged: {}", r.id.hex().substr(0, 8), r.signer_status);
  if (!r.trusted) {
    if (!sel.allow_unknown_signer)
      throw IntegrityError(
          "snapshot {} is not trusted: {} (use --allow-unknown-signer to read it anyway)",
          r.id.hex().substr(0, 8), r.signer_status);
    log::warn(
        "snapshot {} is not trusted ({}); reading it because --allow-unknown-signer was given",
        r.id.hex().substr(0, 8), r.signer_status);
  }
  log::info("snapshot {} of {} (host {}{}), signed by {}", r.id.hex().substr(0, 8),
            repo::format_time(r.snapshot.time_ns), printable(r.snapshot.host),
            r.snapshot.job.empty() ? "" : ", job " + printable(r.snapshot.job),
            r.signer.empty() ? r.snapshot.signer.hex().substr(0, 12) : r.signer);
  return r;
}

int snapshots(repo::Repository& repo, const Selection& sel) {
  auto records = repo.load_snapshots();
  // Each PostgreSQL job's recoverable window, as --pitr checks it.
  std::vector<const repo::SnapshotRecord*> sound;
  for (const auto& r : records)
    if (!r.damaged) sound.push_back(&r);
  auto windows = recoverable_windows(sound);
  json out = json::array();
  size_t damaged = 0;
  for (auto& r : records) {
    if (r.damaged) {
      ++damaged;
      log::error("snapshot {} is damaged: {}", r.id.hex().substr(0, 12), r.signer_status);
      if (sel.json)
        out.push_back({{"id", r.id.hex()}, {"damaged", true}, {"error", r.signer_status}});
      continue;
    }
    if (!sel.filter.matches(r.snapshot)) continue;
    auto& s = r.snapshot;
    if (sel.json) {
      json summary = json::object();
      for (auto& [k, v] : s.summary) summary[k] = v;
      auto texts = [](const std::vector<std::string>& v) {
        json a = json::array();
        for (auto& x : v) a.push_back(printable(x));
        return a;
      };
      out.push_back({{"id", r.id.hex()},
                     {"time", repo::format_time(s.time_ns)},
                     {"time_ns", s.time_ns},
                     {"host", printable(s.host)},
                     {"job", printable(s.job)},
                     {"kind", printable(s.kind)},
                     {"paths", texts(s.paths)},
                     {"tags", texts(s.tags)},
                     {"tree", s.tree.hex()},
                     {"signer", s.signer.hex()},
                     {"trusted", r.trusted},
                     {"signer_status", r.signer_status},
                     {"summary", summary}});
      if (auto w = windows.find(s.job);
          w != windows.end() && (s.kind == "postgres-base" || s.kind == "postgres-wal"))
        out.back()["recoverable_window"] = {{"from", repo::format_time(w->second.from_ns)},
                                            {"to", repo::format_time(w->second.to_ns)},
                                            {"from_ns", w->second.from_ns},
                                            {"to_ns", w->second.to_ns}};
      if (!s.meta.empty()) {
        json meta = json::object();
        for (auto& [k, v] : s.meta) meta[printable(k)] = printable(v);
        out.back()["meta"] = meta;
      }
    } else {
      std::string tags;
      for (auto& t : s.tags) tags += (tags.empty() ? "" : ",") + t;
      std::string paths;
      for (auto& p : s.paths) paths += (paths.empty() ? "" : " ") + printable(p);
      fmt::print("{}  {}  {:<12} {:<12} {:<12} {}{}\n", r.id.hex().substr(0, 12),
                 repo::format_time(s.time_ns), printable(s.host),
                 s.job.empty() ? "-" : printable(s.job), tags.empty() ? "-" : printable(tags),
                 paths, r.trusted ? "" : "  [" + r.signer_status + "]");
    }
  }
  if (sel.json)
    fmt::print("{}\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return damaged ? static_cast<int>(Exit::integrity) : 0;
}

namespace {

std::string mode_string(const repo::Node& n) {
  std::string s = "?rwxrwxrwx";
  switch (n.type) {
    case repo::NodeType::file:
      s[0] = '-';
      break;
    case repo::NodeType::dir:
      s[0] = 'd';
      break;
    case repo::NodeType::symlink:
      s[0] = 'l';
      break;
    case repo::NodeType::fifo:
      s[0] = 'p';
      break;
    case repo::NodeType::chardev:
      s[0] = 'c';
      break;
    case repo::NodeType::blockdev:
      s[0] = 'b';
      break;
    case repo::NodeType::socket:
      s[0] = 's';
      break;
  }
  for (int i = 0; i < 9; ++i)
    if (!(n.mode & (1u << (8 - i)))) s[1 + i] = '-';
  if (n.mode & 04000) s[3] = (n.mode & 0100) ? 's' : 'S';
  if (n.mode & 02000) s[6] = (n.mode & 0010) ? 's' : 'S';
  if (n.mode & 01000) s[9] = (n.mode & 0001) ? 't' : 'T';
  return s;
}

json node_json(const repo::Node& n, const std::string& path) {
  json j = {{"path", printable(path)},
            {"type", repo::node_type_name(n.type)},
            {"mode", n.mode},
            {"uid", n.uid},
            {"gid", n.gid},
            {"user", printable(n.user)},
            {"group", printable(n.group)},
            {"mtime", repo::format_time(n.mtime_ns)},
            {"mtime_ns", n.mtime_ns}};
  if (n.type == repo::NodeType::file) j["size"] = n.size;
  if (n.type == repo::NodeType::symlink) j["target"] = printable(n.target);
  return j;
}

void list_tree(repo::Repository& repo, const Id32& tree_id, const std::string& prefix, json* out,
               int depth) {
  if (depth > 4096 || stack_low())
    throw IntegrityError("snapshot directories nested deeper than {} levels (or a cycle)", depth);
  auto tree = repo.read_tree(tree_id);
  for (auto& n : tree.nodes) {
    std::string path = prefix + "/" + n.name;
    if (out)
      out->push_back(node_json(n, path));
    else
      fmt::print("{} {:>8} {:>8} {:>12} {} {}{}\n", mode_string(n),
                 n.user.empty() ? std::to_string(n.uid) : n.user,
                 n.group.empty() ? std::to_string(n.gid) : n.group, n.size,
                 repo::format_time(n.mtime_ns), printable(path),
                 n.type == repo::NodeType::symlink ? " -> " + printable(n.target) : "");
    if (n.type == repo::NodeType::dir && n.subtree)
      list_tree(repo, *n.subtree, path, out, depth + 1);
  }
}

}  // namespace

std::optional<repo::Node> find_node(repo::Repository& repo, const Id32& root,
                                    const std::string& path) {
  repo::Node dir;
  dir.type = repo::NodeType::dir;
  dir.subtree = root;
  size_t pos = 0;
  while (pos < path.size()) {
    while (pos < path.size() && path[pos] == '/') ++pos;
    if (pos >= path.size()) break;
    size_t slash = path.find('/', pos);
    std::string name =
        path.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    pos = slash == std::string::npos ? path.size() : slash;
    if (dir.type != repo::NodeType::dir || !dir.subtree) return std::nullopt;
    auto tree = repo.read_tree(*dir.subtree);
    auto it = std::find_if(tree.nodes.begin(), tree.nodes.end(),
                           [&](const repo::Node& n) { return n.name == name; });
    if (it == tree.nodes.end()) return std::nullopt;
    dir = *it;
  }
  return dir;
}

int ls(repo::Repository& repo, const Selection& sel, const std::string& spec,
       const std::string& path) {
  repo.require_read("listing a snapshot's files");
  auto r = select_snapshot(repo, sel, spec);
  repo.load_index();
  json out = json::array();
  json* sink = sel.json ? &out : nullptr;
  std::string start = path.empty() ? "/" : path;
  auto node = find_node(repo, r.snapshot.tree, start);
  if (!node)
    throw Error(Exit::failure, "'{}' is not in snapshot {}", path, r.id.hex().substr(0, 8));
  std::string prefix = start == "/" ? "" : start;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (node->type == repo::NodeType::dir && node->subtree) {
    list_tree(repo, *node->subtree, prefix, sink, 0);
  } else if (sink) {
    out.push_back(node_json(*node, prefix));
  } else {
    fmt::print("{} {:>8} {:>8} {:>12} {} {}\n", mode_string(*node), node->user, node->group,
               node->size, repo::format_time(node->mtime_ns), printable(prefix));
  }
  if (sel.json)
    fmt::print("{}\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return 0;
}

namespace {

struct DiffState {
  repo::Repository& repo;
  json* out;
  uint64_t added = 0, removed = 0, modified = 0;
  void emit(char kind, const std::string& path, const char* what) {
    if (out)
      out->push_back({{"change", what}, {"path", printable(path)}});
    else
      fmt::print("{} {}\n", kind, printable(path));
  }
  void all(const Id32& tree, const std::string& prefix, char kind, const char* what, int depth) {
    if (depth > 4096 || stack_low())
      throw IntegrityError("snapshot directories nested too deep (or a cycle)");
    for (auto& n : repo.read_tree(tree).nodes) {
      std::string p = prefix + "/" + n.name;
      emit(kind, p, what);
      (kind == '+' ? added : removed)++;
      if (n.type == repo::NodeType::dir && n.subtree) all(*n.subtree, p, kind, what, depth + 1);
    }
  }
  void compare(const Id32& a, const Id32& b, const std::string& prefix, int depth) {
    if (a == b) return;
    if (depth > 4096 || stack_low())
      throw IntegrityError("snapshot directories nested too deep (or a cycle)");
    auto ta = repo.read_tree(a), tb = repo.read_tree(b);
    size_t i = 0, j = 0;
    while (i < ta.nodes.size() || j < tb.nodes.size()) {
      if (j >= tb.nodes.size() || (i < ta.nodes.size() && ta.nodes[i].name < tb.nodes[j].name)) {
        auto& n = ta.nodes[i++];
        emit('-', prefix + "/" + n.name, "removed");
        removed++;
        if (n.subtree) all(*n.subtree, prefix + "/" + n.name, '-', "removed", depth + 1);
      } else if (i >= ta.nodes.size() || tb.nodes[j].name < ta.nodes[i].name) {
        auto& n = tb.nodes[j++];
        emit('+', prefix + "/" + n.name, "added");
        added++;
        if (n.subtree) all(*n.subtree, prefix + "/" + n.name, '+', "added", depth + 1);
      } else {
        auto &x = ta.nodes[i++], &y = tb.nodes[j++];
        std::string p = prefix + "/" + x.name;
        if (x.type != y.type) {
          emit('T', p, "type");
          modified++;
          continue;
        }
        bool content =
            x.size != y.size || x.content.size() != y.content.size() || x.target != y.target ||
            !std::equal(x.content.begin(), x.content.end(), y.content.begin(),
                        [](auto& m, auto& n) { return m.hole == n.hole && m.chunk == n.chunk; });
        bool meta = x.mode != y.mode || x.uid != y.uid || x.gid != y.gid ||
                    x.mtime_ns != y.mtime_ns || x.xattrs != y.xattrs;
        if (x.type == repo::NodeType::dir) {
          if (meta) emit('U', p, "metadata"), modified++;
          compare(*x.subtree, *y.subtree, p, depth + 1);
        } else if (content) {
          emit('M', p, "modified");
          modified++;
        } else if (meta) {
          emit('U', p, "metadata");
          modified++;
        }
      }
    }
  }
};

}  // namespace

int diff(repo::Repository& repo, const Selection& sel, const std::string& a, const std::string& b) {
  repo.require_read("comparing snapshots");
  auto ra = select_snapshot(repo, sel, a);
  auto rb = select_snapshot(repo, sel, b);
  repo.load_index();
  json out = json::array();
  DiffState d{repo, sel.json ? &out : nullptr};
  d.compare(ra.snapshot.tree, rb.snapshot.tree, "", 0);
  if (sel.json)
    fmt::print(
        "{}\n",
        json{{"changes", out}, {"added", d.added}, {"removed", d.removed}, {"modified", d.modified}}
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  else
    log::info("{} added, {} removed, {} changed", d.added, d.removed, d.modified);
  return 0;
}

int dump(repo::Repository& repo, const Selection& sel, const std::string& spec,
         const std::string& path, bool tar) {
  repo.require_read("dumping content");
  auto r = select_snapshot(repo, sel, spec);
  auto lock = repo::RepoLock::acquire_for_reading(repo, "dump");
  repo.load_index();
  if (tar) {
    if (!path.empty()) throw UsageError("dump --tar writes the whole snapshot: give no PATH");
    if (::isatty(1))
      throw UsageError("refusing to write a tar stream to a terminal: redirect standard output");
    Reporter reporter;
    lifeboat::restore::write_tar(repo, r.snapshot.tree, 1, reporter);
    return reporter.count() ? static_cast<int>(Exit::partial) : 0;
  }
  if (path.empty())
    throw UsageError("dump needs a PATH inside the snapshot (or --tar for all of it)");
  auto node = find_node(repo, r.snapshot.tree, path);
  if (!node)
    throw Error(Exit::failure, "'{}' is not in snapshot {}", path, r.id.hex().substr(0, 8));
  if (node->type != repo::NodeType::file)
    throw Error(Exit::failure, "'{}' is a {}, not a file (use dump --tar for directories)", path,
                repo::node_type_name(node->type));
  static const Bytes zeros(1 << 16);
  for (auto& item : node->content) {
    if (item.hole) {
      for (uint64_t left = item.hole; left > 0;) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(left, zeros.size()));
        fs::write_all(1, ByteView(zeros.data(), n), "standard output");
        left -= n;
      }
      continue;
    }
    fs::write_all(1, repo.read_blob(item.chunk), "standard output");
  }
  return 0;
}

int restore(repo::Repository& repo, const Selection& sel, const RestoreOptions& o) {
  if (o.target.empty()) throw UsageError("restoring needs --target DIR");
  lifeboat::restore::Options ro;
  ro.target = o.target;
  ro.includes = PatternSet(o.includes);
  ro.excludes = PatternSet(o.excludes);
  if (o.overwrite == "never")
    ro.overwrite = lifeboat::restore::Overwrite::never;
  else if (o.overwrite == "if-changed")
    ro.overwrite = lifeboat::restore::Overwrite::if_changed;
  else if (o.overwrite == "always")
    ro.overwrite = lifeboat::restore::Overwrite::always;
  else
    throw UsageError("--overwrite '{}' is not valid (choose never, if-changed or always)",
                     o.overwrite);
  ro.verify = o.verify;
  ro.dry_run = o.dry_run;
  ro.numeric_owner = o.numeric_owner;
  repo.require_read("restoring");
  auto r = select_snapshot(repo, sel, o.snapshot);
  std::unique_ptr<repo::RepoLock> lock;
  if (!o.dry_run) lock = repo::RepoLock::acquire_for_reading(repo, "restore");
  repo.load_index();
  if (!o.tablespace_mapping.empty() && r.snapshot.kind != "postgres-base")
    throw UsageError("--tablespace-mapping goes with restoring a PostgreSQL base backup");
  if (r.snapshot.kind == "postgres-base") {
    // A base backup is restored as a data directory: its tar extracted into --target.
    if (o.dry_run || !o.includes.empty() || !o.excludes.empty() || o.verify)
      throw UsageError(
          "a base backup is restored whole into an empty directory: --dry-run, --include, "
          "--exclude and --verify do not apply (check it with pg_verifybackup DIR)");
    auto start = std::chrono::steady_clock::now();
    auto restored = restore_base_backup(repo, r, o.target, o.tablespace_mapping);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto& m = r.snapshot.meta;
    auto get = [&](const char* k) {
      auto it = m.find(k);
      return it == m.end() ? std::string("?") : it->second;
    };
    log::info(
        "restored base backup {} ({} entries, {}) into {} in {:.1f}s: PostgreSQL {}, system "
        "identifier {}, timeline {}, WAL {} to {}",
        r.id.hex().substr(0, 8), restored.entries, human_bytes(restored.bytes), o.target, seconds,
        get("postgres.server_version"), get("postgres.system_id"), get("postgres.timeline"),
        get("postgres.start_lsn"), get("postgres.stop_lsn"));
    json spaces = json::object();
    for (const auto& [oid, dir] : restored.tablespaces) {
      log::info("  tablespace {} restored into {}", oid, dir);
      spaces[oid] = dir;
    }
    if (sel.json)
      fmt::print("{}\n", json{{"snapshot_id", r.id.hex()},
                              {"entries", restored.entries},
                              {"bytes", restored.bytes},
                              {"tablespaces", spaces},
                              {"duration_seconds", seconds}}
                             .dump());
    return 0;
  }
  Reporter reporter;
  lifeboat::restore::Restorer restorer(repo, reporter, ro);
  restorer.run(r.snapshot.tree);
  auto& st = restorer.stats();
  auto problems = reporter.problems();
  if (sel.json) {
    json errors = json::array();
    for (auto& p : problems)
      errors.push_back({{"item", printable(p.item)}, {"message", p.message}});
    fmt::print("{}\n", json{{"snapshot_id", r.id.hex()},
                            {"target", o.target},
                            {"dry_run", o.dry_run},
                            {"files", st.files},
                            {"dirs", st.dirs},
                            {"others", st.others},
                            {"bytes", st.bytes},
                            {"skipped_existing", st.skipped_existing},
                            {"verified_files", st.verified_files},
                            {"errors", errors}}
                           .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    log::info(
        "{} snapshot {} to '{}': {} files ({} bytes), {} directories, {} other{}{}",
        o.dry_run ? "would restore" : "restored", r.id.hex().substr(0, 8), o.target, st.files,
        st.bytes, st.dirs, st.others,
        st.skipped_existing ? fmt::format(", {} existing left alone", st.skipped_existing) : "",
        o.verify ? fmt::format(", {} files verified", st.verified_files) : "");
    if (!problems.empty()) log::warn("{} item(s) were not restored correctly:", problems.size());
    for (auto& p : problems) log::warn("  {}: {}", printable(p.item), p.message);
  }
  return problems.empty() ? 0 : static_cast<int>(Exit::partial);
}

}  // namespace lifeboat::ops::restore
