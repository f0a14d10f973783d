// Writes a snapshot's tree as a pax tar stream (libarchive) to a file descriptor. Names are
// made relative (no leading '/'); unsafe names are reported and skipped. Not thread-safe.
#pragma once

#include "lifeboat/core/reporter.hpp"
#include "lifeboat/repo/repository.hpp"

namespace lifeboat::restore {

void write_tar(repo::Repository& repo, const Id32& root_tree, int fd, Reporter& reporter);

}  // namespace lifeboat::restore
