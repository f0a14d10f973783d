// Writes a snapshot's tree as a pax tar stream (libarchive) to a file descriptor. Names are
// made relative (no leading '/'); unsafe names are reported and skipped. Not thread-safe.
#pragma once

#include <map>
#include <string>

#include "lifeboat/core/reporter.hpp"
#include "lifeboat/repo/repository.hpp"

namespace lifeboat::restore {

void write_tar(repo::Repository& repo, const Id32& root_tree, int fd, Reporter& reporter);

// Extracts a tar stored as one file of a snapshot (a PostgreSQL base backup) into `target`,
// which must be empty or not exist; owners are restored when running as root. Refuses
// members with absolute paths or '..' and writes nothing through symbolic links. Returns the
// number of entries. Symbolic links named in `relink` (member name -> new target) point to
// their new target instead of the stored one. Throws Error (integrity for damaged data,
// failure for a broken tar).
uint64_t extract_tar(repo::Repository& repo, const repo::Node& file, const std::string& target,
                     const std::map<std::string, std::string>& relink = {});

// Whether `dir` is a directory without entries (false when it does not exist).
bool empty_directory(const std::string& dir);

}  // namespace lifeboat::restore
