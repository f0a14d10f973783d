// Writes a snapshot's tree as a pax tar stream (libarchive) to a file descriptor. Names are
// made relative (no leading '/'); unsafe names are reported and skipped. Not thread-safe.
#pragma once

#include "lifeboat/core/reporter.hpp"
#include "lifeboat/repo/repository.hpp"

namespace lifeboat::restore {

void write_tar(repo::Repository& repo, const Id32& root_tree, int fd, Reporter& reporter);

// Extracts a tar stored as one file of a snapshot (a PostgreSQL base backup) into `target`,
// which must be empty or not exist; owners are restored when running as root. Refuses
// members with absolute paths or '..' and writes nothing through symbolic links. Returns the
// number of entries. Throws Error (integrity for damaged data, failure for a broken tar).
uint64_t extract_tar(repo::Repository& repo, const repo::Node& file, const std::string& target);

}  // namespace lifeboat::restore
