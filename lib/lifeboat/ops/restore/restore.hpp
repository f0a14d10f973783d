// backup-restore: list snapshots, list/diff/dump their content, and restore them.
#pragma once

#include <string>
#include <vector>

#include "lifeboat/repo/repository.hpp"

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
};

int snapshots(repo::Repository& repo, const Selection& sel);
int ls(repo::Repository& repo, const Selection& sel, const std::string& snapshot,
       const std::string& path);
int diff(repo::Repository& repo, const Selection& sel, const std::string& a, const std::string& b);
// One file to stdout, or with tar the whole snapshot as a pax stream.
int dump(repo::Repository& repo, const Selection& sel, const std::string& snapshot,
         const std::string& path, bool tar);
int restore(repo::Repository& repo, const Selection& sel, const RestoreOptions& options);

// Resolves and loads a snapshot; refuses untrusted signers unless allowed (Error integrity).
repo::SnapshotRecord select_snapshot(repo::Repository& repo, const Selection& sel,
                                     const std::string& spec);

}  // namespace lifeboat::ops::restore
