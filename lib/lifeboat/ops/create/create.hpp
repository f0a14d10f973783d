// backup-create: init, backups of files or a stream, and key-slot management.
// Each entry point runs one command flow and returns the exit code.
#pragma once

#include "lifeboat/storage/options.hpp"

#include <map>
#include <string>
#include <vector>

#include "lifeboat/repo/keys.hpp"
#include "lifeboat/repo/repository.hpp"
#include "lifeboat/source/postgres/postgres.hpp"

namespace lifeboat::ops::create {

struct Options {
  std::vector<std::string> paths;
  std::string job;
  std::string host;
  std::vector<std::string> tags;
  std::vector<std::string> excludes;
  std::vector<std::string> exclude_files;
  bool one_file_system = false;
  bool no_cache = false;
  bool stdin_mode = false;
  int stdin_fd = 0;  // what --stdin reads
  // Flows built on a stream backup (wal-push): open files to store, each at its path
  // ("/dir/name"), the snapshot's kind and what it records.
  std::vector<std::pair<std::string, int>> input_files;
  std::string kind;
  std::map<std::string, std::string> meta;
  // Back up this shell command's standard output (as --stdin-name); its failure means no
  // snapshot (exit 1).
  std::string from_command;
  std::string stdin_name;
  // backup-create postgres: a logical dump (mode "dump") of these databases (empty: all) and
  // the cluster's globals, each a file of one snapshot.
  bool postgres = false;
  std::string pg_mode = "dump";
  std::vector<std::string> pg_databases;
  source::postgres::Connection pg;
  bool json = false;
  std::string cache_dir;
  Id32* created = nullptr;  // receives the new snapshot's id
  int64_t time_ns = 0;      // the snapshot's recorded time; 0 = now
};

// Backs up; prints the snapshot id (or a JSON summary). Exit 0, or 3 when items were skipped.
int run(repo::Repository& repo, const Options& options);

// archive_command: stores one WAL file (segment, .history, .backup, .partial) of a PostgreSQL
// cluster as a snapshot of kind postgres-wal, exiting 0 only once it is stored; a file already
// stored with the same content is 0 again, with other content exit 1 (nothing overwritten);
// a segment of another cluster than the job's (system identifier) exit 1.
// To keep up with a busy server, one call also stores the next files waiting for the archiver
// (pg_wal/archive_status/*.ready, up to `batch` in all) and leaves a marker for each in the
// state directory: when the archiver asks for one of those, wal_pushed_before() answers
// without opening the repository.
struct WalPushOptions {
  std::string path;  // %p: the file, relative to the data directory (the working directory)
  std::string job;
  std::string host;
  bool json = false;
  unsigned batch = 16;
  std::string state_dir;
  std::string repository;  // its URL: markers are kept per repository and job
};
int wal_push(repo::Repository& repo, const WalPushOptions& options);
// True when an earlier call stored this very file (same name and content) ahead of the
// archiver's request; the marker is then removed (a later call checks the repository).
bool wal_pushed_before(const WalPushOptions& options);

struct InitOptions {
  std::string url;
  storage::Options storage;
  repo::Secret secret;
  bool json = false;
};
int init(const InitOptions& options);

struct CopyOptions {
  repo::SnapshotFilter filter;
  std::vector<std::string> snapshots;  // ids, prefixes or "latest"; empty = every match
  bool dry_run = false;
  bool json = false;
};
// Copies snapshots from src to dst (see copy.cpp). Exit 0, or 3 when some were skipped.
int copy(repo::Repository& src, repo::Repository& dst, const CopyOptions& options);

int key_list(repo::Repository& repo, bool json);
int key_add(repo::Repository& repo, const repo::Secret& secret, bool write_only,
            const std::string& label, bool json);
int key_remove(repo::Repository& repo, const std::string& id_prefix);
int key_passwd(repo::Repository& repo, const repo::Secret& secret);
// Adds a full key-file slot whose secret is printed as a paper key, or (shares > 0) as
// `shares` Shamir shares of which any `threshold` open the repository via --key-file.
int key_paper(repo::Repository& repo, const std::string& label, unsigned shares, unsigned threshold,
              bool json);
// Writes a new random key file (mode 0600); refuses to overwrite.
int key_generate(const std::string& path);

}  // namespace lifeboat::ops::create
