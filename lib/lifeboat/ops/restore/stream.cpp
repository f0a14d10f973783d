// backup-restore --to-command / --run-restore-command / --to-postgres: a snapshot's streams fed
// into the program that loads them.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "lifeboat/core/log.hpp"
#include "lifeboat/core/reporter.hpp"
#include "lifeboat/ops/restore/restore.hpp"
#include "lifeboat/repo/lock.hpp"
#include "lifeboat/util/fs.hpp"
#include "lifeboat/util/subprocess.hpp"

namespace lifeboat::ops::restore {

namespace {

// Writes the file's content (holes as zeros) into the child's standard input, then waits for
// it. The child's own failure is reported first (its message says more); a child that exits 0
// without reading everything has still left the restore incomplete.
void feed(repo::Repository& repo, const repo::Node& node, Child& child, const std::string& what) {
  static const Bytes zeros(1 << 16);
  uint64_t written = 0;
  bool closed = false;
  auto put = [&](ByteView data) {
    const std::byte* p = data.data();
    size_t left = data.size();
    while (left > 0 && !closed) {
      ssize_t n = ::write(child.fd(), p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EPIPE) {
        closed = true;
        break;
      }
      if (n < 0)
        throw Error(Exit::failure, "writing {} to '{}': {}", what, child.name(),
                    std::strerror(errno));
      p += n;
      left -= static_cast<size_t>(n);
      written += static_cast<uint64_t>(n);
    }
  };
  for (const auto& item : node.content) {
    if (closed) break;
    if (item.hole) {
      for (uint64_t left = item.hole; left > 0 && !closed;) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(left, zeros.size()));
        put(ByteView(zeros.data(), n));
        left -= n;
      }
      continue;
    }
    put(repo.read_blob(item.chunk));
  }
  child.finish();
  if (closed)
    throw Error(Exit::failure,
                "the command '{}' stopped reading {} after {} of {} bytes; the restore is "
                "incomplete",
                child.name(), what, written, node.size);
}

repo::Node stream_node(repo::Repository& repo, const repo::SnapshotRecord& r,
                       const std::string& path) {
  auto node = find_node(repo, r.snapshot.tree, path);
  if (!node || node->type != repo::NodeType::file)
    throw IntegrityError("snapshot {} records '{}' but does not hold it as a file",
                         r.id.hex().substr(0, 8), path);
  return *node;
}

}  // namespace

int to_command(repo::Repository& repo, const Selection& sel, const CommandRestoreOptions& o) {
  if (o.snapshot.empty()) throw UsageError("give the SNAPSHOT to restore (an id or 'latest')");
  repo.require_read("restoring");
  auto r = select_snapshot(repo, sel, o.snapshot);
  const auto& s = r.snapshot;
  std::string id = r.id.hex().substr(0, 8);
  if ((s.kind != "command" && s.kind != "stdin") || s.paths.size() != 1)
    throw UsageError(
        "snapshot {} is a {} backup; a restore command is fed the stream of a --stdin or "
        "--from-command backup (for one file of other snapshots: backup-restore dump {} PATH | "
        "CMD)",
        id, s.kind, id);
  std::string command = o.command;
  if (command.empty()) {
    auto it = o.restore_commands.find(s.job);
    if (s.job.empty())
      throw UsageError(
          "snapshot {} belongs to no job, so there is no restore-command to run; "
          "give --to-command CMD",
          id);
    if (it == o.restore_commands.end() || it->second.empty())
      throw UsageError(
          "job '{}' of snapshot {} has no restore-command in {}; add one, or give "
          "--to-command CMD",
          s.job, id, o.config_path.empty() ? "the configuration (none loaded)" : o.config_path);
    command = it->second;
  }
  auto lock = repo::RepoLock::acquire_for_reading(repo, "restore");
  repo.load_index();
  auto node = stream_node(repo, r, s.paths[0]);
  auto start = std::chrono::steady_clock::now();
  ChildOptions co;
  co.pipe = ChildOptions::Pipe::to_stdin;
  co.consequence = "the restore is incomplete";
  Child child(Child::Shell{command}, co);
  log::info("feeding {} ({}) of snapshot {} to '{}'", printable(s.paths[0]), human_bytes(node.size),
            id, child.name());
  feed(repo, node, child, s.paths[0]);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("restored {} into '{}' in {:.1f}s", human_bytes(node.size), child.name(), seconds);
  if (sel.json)
    fmt::print("{}\n",
               nlohmann::json{
                   {"snapshot_id", r.id.hex()}, {"bytes", node.size}, {"duration_seconds", seconds}}
                   .dump());
  return 0;
}

int to_postgres(repo::Repository& repo, const Selection& sel, const PostgresRestoreOptions& o) {
  namespace pg = source::postgres;
  if (o.snapshot.empty()) throw UsageError("give the SNAPSHOT to restore (an id or 'latest')");
  repo.require_read("restoring");
  auto r = select_snapshot(repo, sel, o.snapshot);
  const auto& s = r.snapshot;
  std::string id = r.id.hex().substr(0, 8);
  if (s.kind != "postgres-dump")
    throw UsageError(
        "snapshot {} is a {} backup, not a PostgreSQL dump (backup-create postgres "
        "--mode dump)",
        id, s.kind);
  std::map<std::string, std::string> in_snapshot;  // database -> path
  for (const auto& p : s.paths)
    if (auto db = pg::database_of(p)) in_snapshot[*db] = p;
  std::vector<std::string> chosen = o.databases;
  if (chosen.empty())
    for (auto& [db, p] : in_snapshot) chosen.push_back(db);
  for (const auto& db : chosen)
    if (!in_snapshot.count(db)) {
      std::string names;
      for (auto& [name, p] : in_snapshot) names += (names.empty() ? "" : ", ") + name;
      throw UsageError("snapshot {} holds no dump of database '{}' (it holds: {})", id, db,
                       names.empty() ? "none" : names);
    }
  auto lock = repo::RepoLock::acquire_for_reading(repo, "restore");
  repo.load_index();
  auto start = std::chrono::steady_clock::now();
  nlohmann::json done = nlohmann::json::array();
  for (const auto& db : chosen) {
    auto node = stream_node(repo, r, in_snapshot[db]);
    ChildOptions co;
    co.pipe = ChildOptions::Pipe::to_stdin;
    std::vector<std::string> argv = {"pg_restore", "--no-password"};
    if (o.create) {
      // pg_restore connects to the maintenance database and creates the one in the dump.
      co.env = pg::environment(o.pg, "postgres");
      argv.push_back("--create");
      argv.push_back("--exit-on-error");
      co.consequence = fmt::format("database '{}' may be partly restored", db);
    } else {
      co.env = pg::environment(o.pg, db);
      // One transaction: a failure leaves the database as it was.
      argv.push_back("--single-transaction");
      co.consequence = fmt::format(
          "database '{}' was left as it was (the restore was rolled back; to replace objects "
          "that exist, add --clean; to restore into a new database, --create)",
          db);
    }
    if (o.clean) {
      argv.push_back("--clean");
      argv.push_back("--if-exists");
    }
    // Without --dbname pg_restore prints SQL instead of connecting. A conninfo string, so
    // that no database name can be read as one.
    argv.push_back("--dbname=" + pg::conninfo_dbname(o.create ? "postgres" : db));
    log::info("restoring database '{}' ({}) from snapshot {}", printable(db),
              human_bytes(node.size), id);
    Child child(argv, co);
    feed(repo, node, child, "the dump of database '" + db + "'");
    done.push_back(db);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("restored {} database(s) in {:.1f}s", chosen.size(), seconds);
  if (sel.json)
    fmt::print("{}\n",
               nlohmann::json{
                   {"snapshot_id", r.id.hex()}, {"databases", done}, {"duration_seconds", seconds}}
                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return 0;
}

}  // namespace lifeboat::ops::restore
