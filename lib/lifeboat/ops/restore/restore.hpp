// backup-restore: list snapshots, list/diff/dump their content, and restore them.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lifeboat/repo/repository.hpp"
#include "lifeboat/repo/tree.hpp"
#include "lifeboat/source/postgres/postgres.hpp"

namespace lifeboat::ops::restore {

struct Selection {
  repo::SnapshotFilter filter;
  bool allow_unknown_signer = false;
  bool json = false;
};

struct RestoreOptions {
  std::string snapshot;
  std::string target;
  std::vector<std::string> includes;
  std::vector<std::string> excludes;
  std::string overwrite = "if-changed";
  bool verify = false;
  bool dry_run = false;
  bool numeric_owner = false;
  std::vector<std::string> tablespace_mapping;  // base backups: "OLDDIR=NEWDIR" each
};

int snapshots(repo::Repository& repo, const Selection& sel);
int ls(repo::Repository& repo, const Selection& sel, const std::string& snapshot,
       const std::string& path);
int diff(repo::Repository& repo, const Selection& sel, const std::string& a, const std::string& b);
// One file to stdout, or with tar the whole snapshot as a pax stream.
int dump(repo::Repository& repo, const Selection& sel, const std::string& snapshot,
         const std::string& path, bool tar);
int restore(repo::Repository& repo, const Selection& sel, const RestoreOptions& options);

// Feeds the stream a --stdin or --from-command backup stored into a shell command's standard
// input (backup-restore --to-command, or --run-restore-command with the command of the
// snapshot's job from `restore_commands`, job name -> command). Exit 0, or 1 when the command
// fails or stops reading early.
struct CommandRestoreOptions {
  std::string snapshot;
  std::string command;                                  // --to-command
  std::map<std::string, std::string> restore_commands;  // --run-restore-command
  std::string config_path;                              // for messages
};
int to_command(repo::Repository& repo, const Selection& sel, const CommandRestoreOptions& options);

// Feeds the dumps of a postgres-dump snapshot to pg_restore, one database at a time
// (--to-postgres). Without `create` each goes into the existing database of its name in one
// transaction; with `create` pg_restore creates it (and with `clean` drops it first).
struct PostgresRestoreOptions {
  std::string snapshot;
  std::vector<std::string> databases;  // empty: all in the snapshot
  bool create = false;
  bool clean = false;
  source::postgres::Connection pg;
};
int to_postgres(repo::Repository& repo, const Selection& sel,
                const PostgresRestoreOptions& options);

// The node at an absolute path inside a snapshot's tree; nullopt if absent.
std::optional<repo::Node> find_node(repo::Repository& repo, const Id32& root,
                                    const std::string& path);

// restore_command: writes WAL file `name` (%f), as archived by wal-push for the selected job,
// to `dest` (%p), checked against the hash recorded when it was archived. Exit 1 when it was
// never archived (PostgreSQL asks for files that do not exist, e.g. future timelines' history),
// 20 when the stored copy is damaged.
int wal_fetch(repo::Repository& repo, const Selection& sel, const std::string& name,
              const std::string& dest);

// Point-in-time recovery (backup-restore --pitr ...): chooses the base backup of the job's
// cluster to start from, checks that the archived WAL reaches the target without a gap,
// restores the base backup into `target` and writes recovery.signal and the recovery settings
// (restore_command, the target, recovery_target_action = promote, the port, archive_mode =
// off) to postgresql.auto.conf. Starting PostgreSQL on `target` then replays to the target.
struct PitrOptions {
  std::string base;    // a base backup snapshot; empty: the newest one before the target
  std::string target;  // the data directory to create
  std::string type;    // "time", "xid", "name", "lsn" or "latest"
  std::string value;   // the target (time as given: YYYY-MM-DD HH:MM[:SS], local)
  std::string port = "5433";
  std::string restore_command;                  // what PostgreSQL runs to fetch WAL
  std::vector<std::string> tablespace_mapping;  // "OLDDIR=NEWDIR" each
};
int pitr(repo::Repository& repo, const Selection& sel, const PitrOptions& options);

// The /base.tar file of a postgres-base snapshot; IntegrityError when it has none.
repo::Node base_tar(repo::Repository& repo, const repo::SnapshotRecord& base);

// Restores a postgres-base snapshot as a data directory into `target` (empty or new): the
// main archive, each tablespace's archive into its directory on the server or where
// `tablespace_mapping` ("OLDDIR=NEWDIR" each) moves it, with pg_tblspc's links pointing there,
// and the backup manifest. Every destination is checked before anything is written: a
// tablespace directory that is not empty is refused (UsageError).
struct BaseRestore {
  uint64_t entries = 0;
  uint64_t bytes = 0;
  std::vector<std::pair<std::string, std::string>> tablespaces;  // OID, where it was restored
};
BaseRestore restore_base_backup(repo::Repository& repo, const repo::SnapshotRecord& base,
                                const std::string& target,
                                const std::vector<std::string>& tablespace_mapping);

// Each PostgreSQL job's recoverable window among `records`: from its oldest base backup to its
// newest base backup or archived WAL (snapshot times). Jobs without a base backup have none.
struct Window {
  int64_t from_ns = 0;
  int64_t to_ns = 0;
};
std::map<std::string, Window> recoverable_windows(
    const std::vector<const repo::SnapshotRecord*>& records);

// Resolves and loads a snapshot; refuses untrusted signers unless allowed (Error integrity).
repo::SnapshotRecord select_snapshot(repo::Repository& repo, const Selection& sel,
                                     const std::string& spec);

}  // namespace lifeboat::ops::restore
