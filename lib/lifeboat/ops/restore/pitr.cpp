// backup-restore --pitr: a base backup, the WAL after it, and the settings that replay it.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "lifeboat/core/log.hpp"
#include "lifeboat/ops/restore/restore.hpp"
#include "lifeboat/repo/lock.hpp"
#include "lifeboat/restore/tar.hpp"
#include "lifeboat/source/postgres/basebackup.hpp"
#include "lifeboat/source/postgres/wal.hpp"
#include "lifeboat/util/fs.hpp"
#include "lifeboat/util/time.hpp"

namespace lifeboat::ops::restore {

namespace {

namespace pg = source::postgres;

std::string meta_of(const repo::Snapshot& s, const char* key) {
  auto it = s.meta.find(key);
  return it == s.meta.end() ? "" : it->second;
}

// The position of a WAL segment's name (not of .partial, .backup or history files).
std::optional<pg::WalPosition> segment_of(const std::string& name) {
  if (pg::wal_file_kind(name) != pg::WalFile::segment) return std::nullopt;
  return pg::wal_position(name);
}
std::tuple<uint32_t, uint32_t, uint32_t> key_of(const pg::WalPosition& p) {
  return {p.timeline, p.log, p.seg};
}

// "YYYY-MM-DD HH:MM:SS+00" for PostgreSQL, from nanoseconds since the epoch.
std::string pg_time(int64_t ns) { return utc_time(ns, "%Y-%m-%d %H:%M:%S+00"); }

std::string conf_quote(const std::string& v) {  // a postgresql.conf string literal
  std::string out = "'";
  for (char c : v) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

}  // namespace

std::map<std::string, Window> recoverable_windows(
    const std::vector<const repo::SnapshotRecord*>& records) {
  std::map<std::string, Window> windows;
  for (const auto* r : records)
    if (r->snapshot.kind == "postgres-base") {
      auto [it, fresh] =
          windows.try_emplace(r->snapshot.job, Window{r->snapshot.time_ns, r->snapshot.time_ns});
      it->second.from_ns = std::min(it->second.from_ns, r->snapshot.time_ns);
      it->second.to_ns = std::max(it->second.to_ns, r->snapshot.time_ns);
    }
  for (const auto* r : records)
    if (r->snapshot.kind == "postgres-wal")
      if (auto it = windows.find(r->snapshot.job); it != windows.end())
        it->second.to_ns = std::max(it->second.to_ns, r->snapshot.time_ns);
  return windows;
}

int pitr(repo::Repository& repo, const Selection& sel, const PitrOptions& o) {
  if (o.target.empty())
    throw UsageError("--pitr needs --target DIR (the data directory to create)");
  if (sel.filter.job.empty())
    throw UsageError(
        "--pitr needs --job NAME: the job that archives the cluster's WAL and base "
        "backups");
  repo.require_read("point-in-time recovery");
  auto records = repo.load_snapshots();
  std::vector<const repo::SnapshotRecord*> usable, bases;
  std::set<std::tuple<uint32_t, uint32_t, uint32_t>> segments;  // archived: timeline, log, seg
  uint32_t segment_size = pg::k_default_segment_size;
  for (const auto& r : records) {
    if (r.damaged || !sel.filter.matches(r.snapshot)) continue;
    if (!r.trusted && !sel.allow_unknown_signer) continue;
    usable.push_back(&r);
    if (r.snapshot.kind == "postgres-base") bases.push_back(&r);
    if (r.snapshot.kind == "postgres-wal") {
      if (auto size = meta_of(r.snapshot, "postgres.wal_segment_size"); !size.empty())
        segment_size = static_cast<uint32_t>(std::stoul(size));
      for (const auto& [k, v] : r.snapshot.meta)
        if (k.rfind(pg::k_wal_meta_prefix, 0) == 0)
          if (auto s = segment_of(k.substr(pg::k_wal_meta_prefix.size())))
            segments.insert(key_of(*s));
    }
  }
  if (bases.empty())
    throw Error(Exit::failure,
                "job '{}' has no base backup (backup-create postgres --mode base "
                "--job {})",
                sel.filter.job, sel.filter.job);
  // The recoverable window by time: from the oldest base backup's end to the newest WAL.
  auto [window_start, window_end] = recoverable_windows(usable).at(sel.filter.job);
  std::string window =
      fmt::format("{} to {}", repo::format_time(window_start), repo::format_time(window_end));

  int64_t target_ns = 0;
  std::optional<uint64_t> target_lsn;
  if (o.type == "time") {
    auto t = repo::parse_time(o.value);
    if (!t)
      throw UsageError("--pitr '{}' is not a time (YYYY-MM-DD HH:MM[:SS], local time)", o.value);
    target_ns = *t;
    if (target_ns < window_start || target_ns > window_end)
      throw Error(Exit::failure,
                  "{} is outside the recoverable window of job '{}': {} (the oldest base "
                  "backup's end to the newest archived WAL)",
                  repo::format_time(target_ns), sel.filter.job, window);
  } else if (o.type == "lsn") {
    target_lsn = pg::parse_lsn(o.value);
    if (!target_lsn) throw UsageError("--pitr-lsn '{}' is not an LSN (like 0/3000060)", o.value);
  } else if (o.type != "xid" && o.type != "name" && o.type != "latest") {
    throw UsageError("internal: unknown recovery target type '{}'", o.type);
  }

  // The base backup: as named, else the newest that ended before the target.
  const repo::SnapshotRecord* base = nullptr;
  if (!o.base.empty()) {
    auto chosen = select_snapshot(repo, sel, o.base);
    for (const auto* b : bases)
      if (b->id == chosen.id) base = b;
    if (!base)
      throw UsageError("snapshot {} is a {} backup of job '{}', not a base backup of job '{}'",
                       chosen.id.hex().substr(0, 8), chosen.snapshot.kind, chosen.snapshot.job,
                       sel.filter.job);
  } else {
    for (const auto* b : bases) {
      if (o.type == "time" && b->snapshot.time_ns > target_ns) continue;
      if (target_lsn) {
        auto stop = pg::parse_lsn(meta_of(b->snapshot, "postgres.stop_lsn"));
        if (!stop || *stop > *target_lsn) continue;
      }
      base = b;  // records are in time order: the last that fits is the newest
    }
    if (!base)
      throw Error(Exit::failure,
                  "no base backup of job '{}' ends before {}; the recoverable window is {}",
                  sel.filter.job, o.value, window);
  }
  std::string start_file = meta_of(base->snapshot, "postgres.start_wal_file");
  auto first = segment_of(start_file);
  if (!first)
    throw IntegrityError("base backup {} records no start WAL file", base->id.hex().substr(0, 8));
  // The archived WAL from the base backup on, without a gap (on its timeline).
  pg::WalPosition last = *first;
  while (segments.count(key_of(pg::next_segment(last, segment_size))))
    last = pg::next_segment(last, segment_size);
  bool later_timeline = false;
  for (const auto& key : segments)
    if (std::get<0>(key) > first->timeline) later_timeline = true;
  std::string wal_range = segments.count(key_of(*first))
                              ? fmt::format("{} to {}", start_file, pg::segment_name(last))
                              : "none archived (only the WAL inside the base backup)";
  for (const auto& [tl, lg, sg] : segments)
    if (tl == first->timeline && last < pg::WalPosition{tl, lg, sg}) {
      log::warn("archived WAL has a gap after {}: recovery can only reach the end of it",
                pg::segment_name(last));
      break;
    }

  log::info("point-in-time recovery of job '{}' to {} {}:", sel.filter.job, o.type,
            o.type == "latest" ? "(the end of the archived WAL)" : o.value);
  log::info("  base backup {} of {} (PostgreSQL {}, system identifier {}, WAL {} to {})",
            base->id.hex().substr(0, 8), repo::format_time(base->snapshot.time_ns),
            meta_of(base->snapshot, "postgres.server_version"),
            meta_of(base->snapshot, "postgres.system_id"),
            meta_of(base->snapshot, "postgres.start_lsn"),
            meta_of(base->snapshot, "postgres.stop_lsn"));
  log::info("  archived WAL: {}", wal_range);
  log::info("  timeline: starts on {}{}", first->timeline,
            later_timeline ? ", follows the latest timeline archived" : "");
  log::info("  recoverable window: {}", window);

  auto lock = repo::RepoLock::acquire_for_reading(repo, "restore");
  repo.load_index();
  auto restored = restore_base_backup(repo, *base, o.target, o.tablespace_mapping);
  uint64_t entries = restored.entries;
  for (const auto& [oid, dir] : restored.tablespaces)
    log::info("  tablespace {} restored into {}", oid, dir);

  // recovery.signal, and the settings after everything else in postgresql.auto.conf.
  std::string conf = "\n# Written by backup-restore --pitr: point-in-time recovery\n";
  conf += "restore_command = " + conf_quote(o.restore_command) + "\n";
  if (o.type == "time") conf += "recovery_target_time = " + conf_quote(pg_time(target_ns)) + "\n";
  if (o.type == "xid") conf += "recovery_target_xid = " + conf_quote(o.value) + "\n";
  if (o.type == "name") conf += "recovery_target_name = " + conf_quote(o.value) + "\n";
  if (o.type == "lsn") conf += "recovery_target_lsn = " + conf_quote(o.value) + "\n";
  conf += "recovery_target_timeline = 'latest'\n";
  if (o.type != "latest") conf += "recovery_target_action = 'promote'\n";
  conf += "port = " + o.port + "\n";
  conf += "archive_mode = off\n";
  std::string auto_conf = o.target + "/postgresql.auto.conf";
  auto existing = fs::read_file(auto_conf);
  std::string text = existing ? std::string(as_chars(*existing)) : "";
  text += conf;
  fs::write_file_atomic(auto_conf,
                        ByteView(reinterpret_cast<const std::byte*>(text.data()), text.size()));
  fs::write_file_atomic(o.target + "/recovery.signal", ByteView());
  // Both files belong to the data directory's owner, like the rest.
  struct stat st {};
  if (::stat(o.target.c_str(), &st) == 0 && ::geteuid() == 0) {
    (void)::chown(auto_conf.c_str(), st.st_uid, st.st_gid);
    (void)::chown((o.target + "/recovery.signal").c_str(), st.st_uid, st.st_gid);
  }
  log::info(
      "restored {} entries into {}; wrote recovery.signal and the recovery settings to "
      "postgresql.auto.conf (port {}). Start PostgreSQL on it to replay the WAL.",
      entries, o.target, o.port);
  if (sel.json)
    fmt::print("{}\n", nlohmann::json{{"base_backup", base->id.hex()},
                                      {"target_type", o.type},
                                      {"target", o.value},
                                      {"wal", wal_range},
                                      {"timeline", first->timeline},
                                      {"window", window},
                                      {"data_directory", o.target},
                                      {"port", o.port}}
                           .dump());
  return 0;
}

}  // namespace lifeboat::ops::restore
