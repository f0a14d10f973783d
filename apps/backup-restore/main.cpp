// backup-restore: list snapshots and their content, compare them, dump and restore them.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <string_view>

#include "lifeboat/cli/tool.hpp"
#include "lifeboat/ops/restore/restore.hpp"

using namespace lifeboat;

namespace {

// sh quoting: 'word', with ' written as '\''.
std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The restore_command --pitr writes: this very program's wal-fetch, with everything that found
// the repository and its secret here (PostgreSQL runs it without our environment).
std::string wal_fetch_command(const cli::Context& ctx, const std::string& job) {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string program = n > 0 ? std::string(self, static_cast<size_t>(n)) : "backup-restore";
  std::string cmd = sh_quote(program) + " wal-fetch --job " + sh_quote(job);
  if (!ctx.config.path.empty()) cmd += " --config " + sh_quote(ctx.config.path);
  cmd += " --repo " + sh_quote(ctx.repository_url(job));
  auto flag_or_env = [](const std::string& flag, const char* env) {
    if (!flag.empty()) return flag;
    const char* e = std::getenv(env);
    return std::string(e ? e : "");
  };
  std::string pw_file = flag_or_env(ctx.global.password_file, "LIFEBOAT_PASSWORD_FILE");
  std::string key_file = flag_or_env(ctx.global.key_file, "LIFEBOAT_KEY_FILE");
  std::string pw_cmd = flag_or_env(ctx.global.password_command, "LIFEBOAT_PASSWORD_COMMAND");
  if (!key_file.empty())
    cmd += " --key-file " + sh_quote(key_file);
  else if (!pw_file.empty())
    cmd += " --password-file " + sh_quote(pw_file);
  else if (!pw_cmd.empty())
    cmd += " --password-command " + sh_quote(pw_cmd);
  return cmd + " %f %p";
}

// wal-fetch answered "not in the archive" (exit 1) rather than failing.
bool wal_not_archived = false;
}  // namespace

int main(int argc, char** argv) {
  int code = cli::run_tool(
      "backup-restore", "Restore snapshots, or list, compare and dump their content.", argc, argv,
      [](CLI::App& app, cli::Context& ctx) -> std::function<int(cli::Context&)> {
        static ops::restore::Selection sel;
        static ops::restore::RestoreOptions o;
        auto selection = [](CLI::App* a) {
          a->add_option("--job", sel.filter.job, "Only snapshots of this job")->type_name("NAME");
          a->add_option("--host", sel.filter.host, "Only snapshots of this host")
              ->type_name("NAME");
          a->add_option("--tag", sel.filter.tags, "Only snapshots with this tag (repeatable)")
              ->type_name("TAG")
              ->allow_extra_args(false);
          a->add_flag("--allow-unknown-signer", sel.allow_unknown_signer,
                      "Read snapshots whose signer is not a key of this repository");
        };
        app.add_option("snapshot", o.snapshot,
                       "Snapshot id, unique prefix (8+ hex digits) or 'latest'");
        app.add_option("--target", o.target, "Restore into DIR")->type_name("DIR");
        app.add_option("--include", o.includes, "Restore only paths matching GLOB (repeatable)")
            ->type_name("GLOB")
            ->allow_extra_args(false);
        app.add_option("--exclude", o.excludes, "Do not restore paths matching GLOB (repeatable)")
            ->type_name("GLOB")
            ->allow_extra_args(false);
        app.add_option("--overwrite", o.overwrite,
                       "Existing files: never, if-changed (default) or always")
            ->check(CLI::IsMember({"never", "if-changed", "always"}));
        app.add_flag("--verify", o.verify, "Read restored files back and check them");
        app.add_flag("--dry-run", o.dry_run, "Show what would be restored; write nothing");
        app.add_flag("--numeric-owner", o.numeric_owner,
                     "Restore owners by number, ignoring names");
        app.add_option("--tablespace-mapping", o.tablespace_mapping,
                       "Base backups: restore the tablespace at OLDDIR into NEWDIR (repeatable)")
            ->type_name("OLDDIR=NEWDIR")
            ->allow_extra_args(false);
        static ops::restore::CommandRestoreOptions co;
        static bool run_restore_command = false;
        app.add_option(
               "--to-command", co.command,
               "Feed the snapshot's stream (--stdin, --from-command) into shell command CMD")
            ->type_name("CMD");
        app.add_flag("--run-restore-command", run_restore_command,
                     "Feed the snapshot's stream into the restore-command of its job");
        static ops::restore::PostgresRestoreOptions po;
        static bool to_postgres = false;
        app.add_flag("--to-postgres", to_postgres,
                     "Restore a PostgreSQL dump snapshot through pg_restore");
        app.add_option("--dbname", po.databases,
                       "With --to-postgres: only database D (repeatable; default: all)")
            ->type_name("D")
            ->allow_extra_args(false);
        app.add_flag("--create", po.create,
                     "With --to-postgres: create each database (pg_restore --create)");
        app.add_flag("--clean", po.clean,
                     "With --to-postgres: drop each object (or with --create, the database) "
                     "before recreating it");
        app.add_option("--pg-host", po.pg.host,
                       "Server host or socket directory (default: PGHOST, libpq's default)")
            ->type_name("HOST");
        app.add_option("--pg-port", po.pg.port, "Server port (default: PGPORT, 5432)")
            ->type_name("PORT");
        app.add_option("--pg-user", po.pg.user, "Role to connect as (default: PGUSER)")
            ->type_name("ROLE");
        static std::string pitr_time, pitr_xid, pitr_name, pitr_lsn;
        app.add_option("--pitr", pitr_time,
                       "Point-in-time recovery to TIME (YYYY-MM-DD HH:MM[:SS], local) or 'latest', "
                       "into --target")
            ->type_name("TIME");
        app.add_option("--pitr-xid", pitr_xid, "Point-in-time recovery to transaction XID")
            ->type_name("XID");
        app.add_option("--pitr-name", pitr_name,
                       "Point-in-time recovery to the restore point NAME (pg_create_restore_point)")
            ->type_name("NAME");
        app.add_option("--pitr-lsn", pitr_lsn, "Point-in-time recovery to WAL position LSN")
            ->type_name("LSN");
        selection(&app);

        auto* snaps = app.add_subcommand("snapshots", "List snapshots");
        selection(snaps);
        static std::string ls_snap, ls_path;
        auto* ls = app.add_subcommand("ls", "List the files of a snapshot");
        ls->add_option("snapshot", ls_snap, "Snapshot")->required();
        ls->add_option("path", ls_path, "Directory or file inside the snapshot");
        selection(ls);
        static std::string diff_a, diff_b;
        auto* diff = app.add_subcommand("diff", "Show what changed between two snapshots");
        diff->add_option("snapshot1", diff_a, "Older snapshot")->required();
        diff->add_option("snapshot2", diff_b, "Newer snapshot")->required();
        selection(diff);
        static std::string dump_snap, dump_path;
        static bool tar = false;
        auto* dump =
            app.add_subcommand("dump", "Write one file, or the whole snapshot as tar, to stdout");
        dump->add_option("snapshot", dump_snap, "Snapshot")->required();
        dump->add_option("path", dump_path, "File inside the snapshot");
        dump->add_flag("--tar", tar, "Write the whole snapshot as a pax tar stream");
        selection(dump);

        static std::string wal_name, wal_dest;
        auto* wal_fetch = app.add_subcommand(
            "wal-fetch", "Fetch one archived PostgreSQL WAL file (restore_command, with --job)");
        wal_fetch->add_option("file", wal_name, "The WAL file's name (%f)")->required();
        wal_fetch->add_option("dest", wal_dest, "Where to write it (%p)")->required();
        selection(wal_fetch);

        return [=](cli::Context& ctx) -> int {
          sel.json = ctx.global.json;
          auto repo = ctx.open(sel.filter.job);
          if (*snaps) return ops::restore::snapshots(*repo, sel);
          if (*ls) return ops::restore::ls(*repo, sel, ls_snap, ls_path);
          if (*diff) return ops::restore::diff(*repo, sel, diff_a, diff_b);
          if (*dump) return ops::restore::dump(*repo, sel, dump_snap, dump_path, tar);
          if (*wal_fetch) {
            int rc = ops::restore::wal_fetch(*repo, sel, wal_name, wal_dest);
            wal_not_archived = rc == static_cast<int>(Exit::failure);
            return rc;
          }
          int pitrs =
              !pitr_time.empty() + !pitr_xid.empty() + !pitr_name.empty() + !pitr_lsn.empty();
          if (pitrs > 1)
            throw UsageError("give one of --pitr, --pitr-xid, --pitr-name, --pitr-lsn");
          if (pitrs == 1) {
            if (!co.command.empty() || run_restore_command || to_postgres ||
                !po.databases.empty() || po.create || po.clean || !po.pg.host.empty() ||
                !po.pg.user.empty())
              throw UsageError(
                  "--pitr restores a base backup into --target: --to-command, --to-postgres and "
                  "their options do not apply (--pg-port sets the restored cluster's port)");
            ops::restore::PitrOptions p;
            p.base = o.snapshot;
            p.target = o.target;
            p.type = !pitr_time.empty()   ? (pitr_time == "latest" ? "latest" : "time")
                     : !pitr_xid.empty()  ? "xid"
                     : !pitr_name.empty() ? "name"
                                          : "lsn";
            p.value = !pitr_time.empty()   ? pitr_time
                      : !pitr_xid.empty()  ? pitr_xid
                      : !pitr_name.empty() ? pitr_name
                                           : pitr_lsn;
            if (!po.pg.port.empty()) p.port = po.pg.port;
            p.restore_command = wal_fetch_command(ctx, sel.filter.job);
            p.tablespace_mapping = o.tablespace_mapping;
            return ops::restore::pitr(*repo, sel, p);
          }
          int modes = !o.target.empty() + !co.command.empty() + run_restore_command + to_postgres;
          if (modes > 1)
            throw UsageError(
                "give one of --target, --to-command, --run-restore-command, --to-postgres");
          if (!o.tablespace_mapping.empty() && o.target.empty())
            throw UsageError("--tablespace-mapping goes with --target (or --pitr)");
          bool pg_flags = !po.databases.empty() || po.create || po.clean || !po.pg.host.empty() ||
                          !po.pg.port.empty() || !po.pg.user.empty();
          if (pg_flags && !to_postgres)
            throw UsageError(
                "--dbname, --create, --clean and --pg-host/--pg-port/--pg-user go with "
                "--to-postgres");
          if (!co.command.empty() || run_restore_command) {
            ops::restore::CommandRestoreOptions c = co;
            c.snapshot = o.snapshot;
            c.config_path = ctx.config.path;
            for (const auto& [name, job] : ctx.config.jobs)
              if (!job.restore_command.empty()) c.restore_commands[name] = job.restore_command;
            return ops::restore::to_command(*repo, sel, c);
          }
          if (to_postgres) {
            ops::restore::PostgresRestoreOptions p = po;
            p.snapshot = o.snapshot;
            return ops::restore::to_postgres(*repo, sel, p);
          }
          if (o.snapshot.empty())
            throw UsageError(
                "give a SNAPSHOT and --target DIR, or one of: snapshots, ls, diff, dump (see "
                "--help)");
          return ops::restore::restore(*repo, sel, o);
        };
      });
  // PostgreSQL takes a restore_command's failure for the end of the archive and ends recovery
  // there, unless its status is above 125. So anything but "not in the archive" (a damaged
  // archive, an unreachable repository, a wrong password or option) is 126: recovery stops
  // and says so instead of promoting a cluster that is missing WAL.
  bool fetching = false;
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "wal-fetch") fetching = true;
  if (fetching && code != 0 && !wal_not_archived) return 126;
  return code;
}