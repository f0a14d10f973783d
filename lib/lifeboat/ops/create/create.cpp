#include "lifeboat/ops/create/create.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>

#include "lifeboat/core/log.hpp"
#include "lifeboat/core/reporter.hpp"
#include "lifeboat/repo/blob_saver.hpp"
#include "lifeboat/repo/lock.hpp"
#include "lifeboat/source/files/scanner.hpp"
#include "lifeboat/source/postgres/basebackup.hpp"
#include "lifeboat/util/host.hpp"
#include "lifeboat/util/subprocess.hpp"

namespace lifeboat::ops::create {

namespace {

std::string cache_file(const Options& o, const repo::Repository& repo, const std::string& job) {
  std::string name = job.empty() ? "default" : job;
  for (char& c : name)
    if (c == '/' || c == '\0') c = '_';
  return fmt::format("{}/{}/files-{}", o.cache_dir, repo.config().id.hex(), name);
}

}  // namespace

int run(repo::Repository& repo, const Options& o) {
  auto start = std::chrono::steady_clock::now();
  bool command = !o.from_command.empty();
  if (o.postgres) {
    if (o.stdin_mode || command || !o.stdin_name.empty())
      throw UsageError("backup-create postgres takes no --stdin, --from-command or --stdin-name");
    if (!o.paths.empty()) throw UsageError("backup-create postgres takes no PATH arguments");
    if (o.pg_mode != "dump" && o.pg_mode != "base")
      throw UsageError("--mode '{}' is not a PostgreSQL backup mode (valid: dump, base)",
                       o.pg_mode);
    if (o.pg_mode == "base" && !o.pg_databases.empty())
      throw UsageError(
          "--dbname goes with --mode dump: a base backup copies the whole cluster (every "
          "database)");
  }
  bool stream = o.stdin_mode || command || o.postgres || !o.input_files.empty();
  const char* flag = command ? "--from-command" : "--stdin";
  if (o.stdin_mode && command) throw UsageError("give --stdin or --from-command, not both");
  if (stream && !o.postgres && o.input_files.empty() && o.stdin_name.empty())
    throw UsageError("{} needs --stdin-name NAME (the file name to store the stream under)", flag);
  if (stream && !o.paths.empty()) throw UsageError("{} takes no PATH arguments", flag);
  if (!stream && o.paths.empty())
    throw UsageError(
        "nothing to back up: give PATH arguments, --stdin, --from-command, or --job NAME of a "
        "configured job");
  std::string stdin_path;  // normalised "/a/b"
  if (stream && !o.postgres && o.input_files.empty()) {
    for (size_t pos = 0; pos <= o.stdin_name.size();) {
      size_t slash = o.stdin_name.find('/', pos);
      if (slash == std::string::npos) slash = o.stdin_name.size();
      std::string part = o.stdin_name.substr(pos, slash - pos);
      pos = slash + 1;
      if (part.empty()) continue;
      if (part == "." || part == ".." || part.size() > 255)
        throw UsageError(
            "--stdin-name '{}' is not a valid path ('.', '..' and names over 255 bytes are not "
            "allowed)",
            o.stdin_name);
      stdin_path += "/" + part;
    }
    if (stdin_path.empty()) throw UsageError("--stdin-name '{}' names no file", o.stdin_name);
  }

  // PostgreSQL: which databases, asked of the server before anything is written.
  namespace pg = source::postgres;
  std::vector<std::string> databases = o.pg_databases;
  std::map<std::string, std::string> meta;
  bool base = o.postgres && o.pg_mode == "base";
  const char* env_host = std::getenv("PGHOST");
  std::string pg_host = !o.pg.host.empty() ? o.pg.host : env_host ? env_host : "";
  std::string where = pg_host.empty() ? "the local server" : "the server at " + pg_host;
  if (base) log::info("base backup of {}", where);
  if (o.postgres && !base) {
    auto version = pg::query(o.pg, "postgres", "SHOW server_version", "no snapshot was written");
    meta["postgres.mode"] = "dump";
    meta["postgres.server_version"] = version.empty() ? "" : version[0];
    if (databases.empty()) databases = pg::list_databases(o.pg);
    if (databases.empty())
      throw Error(Exit::failure, "{} has no database that accepts connections to dump", where);
    std::sort(databases.begin(), databases.end());
    databases.erase(std::unique(databases.begin(), databases.end()), databases.end());
    log::info("dumping {} database(s) of {}, and its globals", databases.size(), where);
  }

  auto lock = repo::RepoLock::acquire(repo, false, "backup");
  repo.load_index();

  source::files::ScanOptions scan;
  for (auto& p : o.paths) scan.paths.push_back(source::files::normalize_path(p));
  std::vector<std::string> excludes = o.excludes;
  scan.excludes = PatternSet(excludes);
  for (auto& f : o.exclude_files) scan.excludes.add_file(f);
  scan.one_file_system = o.one_file_system;
  scan.use_cache = !o.no_cache;

  std::string cache_path = cache_file(o, repo, o.job);
  auto cache = stream ? source::files::FilesCache{} : source::files::FilesCache::load(cache_path);
  Reporter reporter;
  repo::BlobSaver saver(repo);
  saver.set_index_guard([&] { lock->check_valid(); });
  source::files::Scanner scanner(repo, saver, cache, reporter);
  Id32 tree;
  std::vector<std::string> stream_paths;
  if (!o.input_files.empty()) {
    std::vector<source::files::Scanner::Stream> streams;
    for (const auto& [path, fd] : o.input_files) {
      stream_paths.push_back(path);
      streams.push_back({path, [fd = fd] { return fd; }, [] {}});
    }
    tree = scanner.scan_streams(streams);
  } else if (base) {
    // Every archive of the backup (tablespaces, then the main one) and its manifest, one file
    // each; what they say about themselves becomes the snapshot's meta.
    pg::BaseBackup backup(o.pg);
    std::vector<source::files::Scanner::Stream> streams;
    const auto& parts = backup.parts();
    for (size_t i = 0; i < parts.size(); ++i) {
      stream_paths.push_back(parts[i].path);
      streams.push_back({parts[i].path, [&backup, i] { return backup.open(i); },
                         [&backup, i] { backup.close(i); }});
    }
    if (parts.size() > 2) log::info("{} tablespace(s) besides the main one", parts.size() - 2);
    tree = scanner.scan_streams(streams);
    auto info = backup.finish();
    for (auto& [k, v] : info.meta()) meta[k] = v;
  } else if (command || o.postgres) {
    // Started only now, with the lock held and the index loaded: nothing of ours can fail
    // between its start and the reading of its output. Each exit status decides.
    std::optional<Child> child;
    std::vector<source::files::Scanner::Stream> streams;
    auto add = [&](std::string path, auto start) {
      stream_paths.push_back(path);
      streams.push_back({std::move(path),
                         [&child, start] {
                           start(child);
                           return child->fd();
                         },
                         [&child] {
                           child->finish();
                           child.reset();
                         }});
    };
    if (command) {
      add(stdin_path,
          [cmd = o.from_command](std::optional<Child>& c) { c.emplace(Child::Shell{cmd}); });
    } else {
      add(pg::k_globals_path, [conn = o.pg](std::optional<Child>& c) {
        ChildOptions co;
        co.env = pg::environment(conn, "");
        c.emplace(std::vector<std::string>{"pg_dumpall", "--globals-only", "--no-password"}, co);
      });
      for (const auto& db : databases)
        add(pg::dump_path(db), [conn = o.pg, db](std::optional<Child>& c) {
          ChildOptions co;
          co.env = pg::environment(conn, db);
          // Uncompressed: our chunking then finds what is unchanged since the last dump, and
          // the repository compresses what it stores.
          c.emplace(std::vector<std::string>{"pg_dump", "--format=custom", "--compress=0",
                                             "--no-password"},
                    co);
        });
    }
    tree = scanner.scan_streams(streams);
  } else {
    tree = o.stdin_mode ? scanner.scan_stream(o.stdin_fd, stdin_path) : scanner.scan(scan);
  }
  saver.flush();

  auto stats = scanner.stats();
  auto saved = saver.stats();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  repo::Snapshot snap;
  snap.time_ns = o.time_ns ? o.time_ns : repo::now_ns();
  snap.host = o.host.empty() ? host_name() : o.host;
  snap.job = o.job;
  snap.kind = !o.kind.empty() ? o.kind
              : base          ? "postgres-base"
              : o.postgres    ? "postgres-dump"
              : command       ? "command"
              : o.stdin_mode  ? "stdin"
                              : "files";
  snap.paths = !stream_paths.empty() ? stream_paths
               : stream              ? std::vector<std::string>{stdin_path}
                                     : scan.paths;
  snap.meta = meta;
  for (auto& [k, v] : o.meta) snap.meta[k] = v;
  snap.tags = o.tags;
  snap.tree = tree;
  snap.program = std::string("lifeboat ") + LIFEBOAT_VERSION;
  snap.summary = {{"files_new", stats.files_new},
                  {"files_changed", stats.files_changed},
                  {"files_unchanged", stats.files_unchanged},
                  {"dirs", stats.dirs},
                  {"bytes_read", stats.bytes_read},
                  {"bytes_added", saved.bytes_added},
                  {"bytes_stored", saved.bytes_stored},
                  {"errors", reporter.count()}};
  // The last moment to notice that our lock expired (stopped process, unreachable storage):
  // a prune may have judged this backup dead, so writing the snapshot could reference
  // deleted data.
  lock->check_valid();
  Id32 id = repo.save_snapshot(snap);
  if (o.created) *o.created = id;
  lock->release();
  if (!stream) {
    try {
      cache.save();
    } catch (const std::exception& e) {
      log::warn("unable to save the files cache: {}", e.what());
    }
  }

  auto problems = reporter.problems();
  if (o.json) {
    nlohmann::json errors = nlohmann::json::array();
    for (auto& p : problems)
      errors.push_back({{"item", printable(p.item)}, {"message", p.message}});
    nlohmann::json j = {{"snapshot_id", id.hex()}, {"duration_seconds", seconds}};
    for (auto& [key, value] : snap.summary) j[key] = value;
    j["errors"] = errors;  // the list, where the snapshot records only the count
    fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    log::info("files: {} new, {} changed, {} unchanged; {} directories", stats.files_new,
              stats.files_changed, stats.files_unchanged, stats.dirs);
    log::info("read {}, added {} ({} stored) in {:.1f}s", human_bytes(stats.bytes_read),
              human_bytes(saved.bytes_added), human_bytes(saved.bytes_stored), seconds);
    if (!problems.empty())
      log::warn("{} item(s) could not be backed up and are missing from snapshot {}:",
                problems.size(), id.hex().substr(0, 8));
    for (auto& p : problems) log::warn("  {}: {}", printable(p.item), p.message);
    fmt::print("{}\n", id.hex());
  }
  return problems.empty() ? 0 : static_cast<int>(Exit::partial);
}

}  // namespace lifeboat::ops::create
