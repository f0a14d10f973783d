// The YAML configuration file (lifeboat.yaml(5)): repositories and jobs. Unknown keys and
// bad values are UsageErrors naming the file, the line and the valid choices.
// Value types; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lifeboat/storage/options.hpp"

namespace lifeboat::config {

// A retention policy as written (keep-last: 7, keep-within: 30d, keep-tag: [x] ...): key
// names and value shapes are checked here; backup-prune turns it into a policy.
struct RetentionConfig {
  std::vector<std::pair<std::string, std::string>> rules;  // keep-tag appears once per tag
  std::string where;                                       // "file:line"
  bool empty() const { return rules.empty(); }
};

struct RepositoryConfig {
  std::string name;
  std::string url;
  std::string password_file;
  std::string password_command;
  std::string key_file;
  // Transfer and driver settings (s3:, azure:, sftp:, connections, limits, retry-time).
  storage::Options storage;
  // Default policy for every job's snapshots stored here (a job's own policy comes first).
  RetentionConfig retention;
  // Forget and prune refuse to touch this repository (exit 22).
  bool append_only = false;
};

struct JobConfig {
  std::string name;
  std::string repository;  // name in repositories
  // What the job backs up: "files" (paths), "command" (a command's output) or "postgres".
  std::string type = "files";
  // type: command — the command whose output is stored as file stdin_name, and the command
  // that backup-restore --restore-command feeds it back into.
  std::string command;
  std::string stdin_name;
  std::string restore_command;
  // type: postgres — the mode ("dump"), the databases (empty: all) and how to reach the server
  // (empty: libpq's defaults).
  std::string pg_mode = "dump";
  std::vector<std::string> pg_databases;
  std::string pg_host;
  std::string pg_port;
  std::string pg_user;
  std::vector<std::string> paths;
  std::vector<std::string> exclude;
  std::string exclude_file;
  std::vector<std::string> tags;
  std::string host;
  bool one_file_system = false;
  std::vector<std::string> copies;  // repositories every new snapshot is copied to
  RetentionConfig retention;        // in its own repository
  std::map<std::string, RetentionConfig> copy_retention;  // per copy repository
  // The policy for this job's snapshots in repository `repo` (its own or a copy's), falling
  // back to that repository's default; nullptr when there is none.
  const RetentionConfig* retention_in(const RepositoryConfig& repo) const;
};

struct Config {
  std::string path;  // empty when no file was loaded
  std::string cache_dir;
  std::string state_dir;
  std::map<std::string, RepositoryConfig> repositories;
  std::map<std::string, JobConfig> jobs;
  const JobConfig* job(const std::string& name) const;
  const RepositoryConfig* repository(const std::string& name) const;
};

inline constexpr const char* k_default_path = "/etc/lifeboat/lifeboat.yaml";

// Loads and validates a configuration file; throws UsageError (exit 2) on any problem.
Config load(const std::string& path);
// The same for a document already in memory; `path` names it in messages.
Config load_text(const std::string& text, const std::string& path);
// Loads `explicit_path` if given, else LIFEBOAT_CONFIG, else the default path when it exists;
// an empty Config when there is none.
Config load_default(const std::string& explicit_path);

}  // namespace lifeboat::config
