// backup-create: init, backups of files or a stream, and key-slot management.
// Each entry point runs one command flow and returns the exit code.
#pragma once

#include "lifeboat/storage/options.hpp"

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
