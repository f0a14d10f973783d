// backup-restore wal-fetch: PostgreSQL's restore_command.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "lifeboat/core/log.hpp"
#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/ops/restore/restore.hpp"
#include "lifeboat/repo/lock.hpp"
#include "lifeboat/source/postgres/wal.hpp"
#include "lifeboat/util/fs.hpp"

namespace lifeboat::ops::restore {

int wal_fetch(repo::Repository& repo, const Selection& sel, const std::string& name,
              const std::string& dest) {
  namespace pg = source::postgres;
  if (!pg::wal_file_kind(name))
    throw UsageError("'{}' is not a WAL file name; restore_command passes %f and %p", name);
  if (dest.empty()) throw UsageError("wal-fetch needs the destination path (%p)");
  repo.require_read("fetching WAL");
  const repo::SnapshotRecord* found = nullptr;
  auto records = repo.load_snapshots();
  for (const auto& r : records) {
    const auto& s = r.snapshot;
    if (r.damaged || s.kind != "postgres-wal" || !sel.filter.matches(s)) continue;
    if (!s.meta.count(pg::k_wal_meta_prefix + name)) continue;
    if (!r.trusted && !sel.allow_unknown_signer) continue;
    found = &r;
  }
  if (!found) {
    // Routine: recovery probes for files past the end of the archive.
    log::info("WAL file {} is not in the archive{}", name,
              sel.filter.job.empty() ? "" : " of job '" + sel.filter.job + "'");
    return static_cast<int>(Exit::failure);
  }
  auto want = found->snapshot.meta.find(pg::k_wal_meta_prefix + name);
  auto lock = repo::RepoLock::acquire_for_reading(repo, "wal-fetch");
  repo.load_index();
  auto node = find_node(repo, found->snapshot.tree, "/pg_wal/" + name);
  if (!node || node->type != repo::NodeType::file)
    throw IntegrityError("snapshot {} records WAL file {} but does not hold it",
                         found->id.hex().substr(0, 8), name);
  Bytes data;
  data.reserve(node->size);
  for (const auto& item : node->content) {
    if (item.hole) {
      data.resize(data.size() + item.hole);
      continue;
    }
    Bytes blob = repo.read_blob(item.chunk);
    data.insert(data.end(), blob.begin(), blob.end());
  }
  if (want == found->snapshot.meta.end() || crypto::sha256(data).hex() != want->second)
    throw IntegrityError(
        "WAL file {} in snapshot {} does not match the hash recorded when it was archived: "
        "the archive is damaged (run backup-verify --read-data)",
        name, found->id.hex().substr(0, 8));
  // Written beside the destination and renamed: PostgreSQL never sees half a file.
  std::string tmp = dest + ".lifeboat-tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(Exit::failure, "unable to create '{}': {}", tmp, fs::errno_text(errno));
  try {
    fs::write_all(fd, data, tmp);
    if (::fsync(fd) != 0)
      throw Error(Exit::failure, "unable to write '{}': {}", tmp, fs::errno_text(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw Error(Exit::failure, "unable to rename '{}' to '{}': {}", tmp, dest, fs::errno_text(err));
  }
  log::verbose("restored WAL file {} from snapshot {}", name, found->id.hex().substr(0, 8));
  return 0;
}

}  // namespace lifeboat::ops::restore
