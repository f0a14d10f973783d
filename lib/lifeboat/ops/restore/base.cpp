// A PostgreSQL base backup restored as a data directory: the main archive into the target,
// each tablespace's archive into its directory (where it was, or where --tablespace-mapping
// says), pg_tblspc's links pointing there, and the backup manifest beside the data.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "lifeboat/core/cancel.hpp"
#include "lifeboat/ops/restore/restore.hpp"
#include "lifeboat/restore/tar.hpp"
#include "lifeboat/source/postgres/basebackup.hpp"
#include "lifeboat/util/fs.hpp"

namespace lifeboat::ops::restore {

namespace {

namespace pg = source::postgres;

std::string without_trailing_slash(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// Writes a file of the snapshot to `path` (which must not exist), owned by uid:gid.
void write_node(repo::Repository& repo, const repo::Node& node, const std::string& path, uid_t uid,
                gid_t gid) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(Exit::failure, "unable to create '{}': {}", path, fs::errno_text(errno));
  try {
    auto put = [&](const std::byte* p, size_t n) {
      while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0)
          throw Error(Exit::failure, "unable to write '{}': {}", path, fs::errno_text(errno));
        p += w;
        n -= static_cast<size_t>(w);
      }
    };
    for (const auto& item : node.content) {
      cancel::check();
      if (item.hole) {  // in pieces: a hole's size comes from the snapshot
        static const Bytes zeros(1 << 16);
        for (uint64_t left = item.hole; left > 0;) {
          size_t n = static_cast<size_t>(std::min<uint64_t>(left, zeros.size()));
          put(zeros.data(), n);
          left -= n;
        }
        continue;
      }
      Bytes blob = repo.read_blob(item.chunk);
      put(blob.data(), blob.size());
    }
    if (::geteuid() == 0 && ::fchown(fd, uid, gid) != 0)
      throw Error(Exit::failure, "unable to give '{}' to its owner: {}", path,
                  fs::errno_text(errno));
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

}  // namespace

repo::Node base_tar(repo::Repository& repo, const repo::SnapshotRecord& base) {
  auto node = find_node(repo, base.snapshot.tree, pg::k_base_tar_path);
  if (!node || node->type != repo::NodeType::file)
    throw IntegrityError("snapshot {} is a base backup without {}", base.id.hex().substr(0, 8),
                         pg::k_base_tar_path);
  return *node;
}

BaseRestore restore_base_backup(repo::Repository& repo, const repo::SnapshotRecord& base,
                                const std::string& target,
                                const std::vector<std::string>& tablespace_mapping) {
  std::string short_id = base.id.hex().substr(0, 8);
  repo::Node main = base_tar(repo, base);
  struct Space {
    std::string oid, location, dest;
    repo::Node node;
  };
  std::vector<Space> spaces;
  const std::string prefix = pg::k_tablespace_meta_prefix;
  for (const auto& [key, location] : base.snapshot.meta) {
    if (key.rfind(prefix, 0) != 0) continue;
    std::string oid = key.substr(prefix.size());
    if (oid.empty() || oid.size() > 10 ||
        oid.find_first_not_of("0123456789") != std::string::npos || location.empty() ||
        location[0] != '/')
      throw IntegrityError(
          "snapshot {} records a tablespace '{}' at '{}': not an OID and an "
          "absolute directory",
          short_id, printable(oid), printable(location));
    auto node = find_node(repo, base.snapshot.tree, pg::tablespace_tar_path(oid));
    if (!node || node->type != repo::NodeType::file)
      throw IntegrityError("snapshot {} lists tablespace {} (at '{}') but holds no {}", short_id,
                           printable(oid), printable(location), pg::tablespace_tar_path(oid));
    spaces.push_back({oid, without_trailing_slash(location), "", *node});
  }
  auto list = [&] {
    std::string out;
    for (const auto& s : spaces) out += (out.empty() ? "" : ", ") + s.location;
    return out.empty() ? std::string("none") : out;
  };
  std::map<std::string, std::string> mapped;  // old location -> new
  for (const auto& m : tablespace_mapping) {
    auto eq = m.find('=');
    std::string from = eq == std::string::npos ? "" : without_trailing_slash(m.substr(0, eq));
    std::string to = eq == std::string::npos ? "" : without_trailing_slash(m.substr(eq + 1));
    if (from.empty() || to.empty() || from[0] != '/' || to[0] != '/')
      throw UsageError("--tablespace-mapping '{}' is not OLDDIR=NEWDIR with absolute directories",
                       m);
    if (!mapped.emplace(from, to).second)
      throw UsageError("--tablespace-mapping names '{}' twice", from);
    bool known = false;
    for (const auto& s : spaces) known = known || s.location == from;
    if (!known)
      throw UsageError(
          "--tablespace-mapping '{}': base backup {} has no tablespace at '{}' (its tablespaces: "
          "{})",
          m, short_id, from, list());
  }
  // Every destination is checked before anything is written: a tablespace directory still in
  // use (the original cluster's, on the same machine) is never written into.
  std::set<std::string> dests;
  for (auto& s : spaces) {
    auto it = mapped.find(s.location);
    s.dest = it == mapped.end() ? s.location : it->second;
    struct stat st {};
    if (::stat(s.dest.c_str(), &st) == 0 &&
        (!S_ISDIR(st.st_mode) || !lifeboat::restore::empty_directory(s.dest)))
      throw UsageError(
          "tablespace {} (at '{}' on the server) would be restored into '{}', which is {}: give "
          "--tablespace-mapping {}=NEWDIR (an empty or new directory)",
          s.oid, s.location, s.dest, S_ISDIR(st.st_mode) ? "not empty" : "not a directory",
          s.location);
    if (!dests.insert(s.dest).second || without_trailing_slash(target) == s.dest)
      throw UsageError("two parts of base backup {} would be restored into '{}'", short_id, s.dest);
  }
  std::map<std::string, std::string> relink;
  for (const auto& s : spaces) relink["pg_tblspc/" + s.oid] = s.dest;
  BaseRestore out;
  out.entries = lifeboat::restore::extract_tar(repo, main, target, relink);
  out.bytes = main.size;
  struct stat owner {};
  if (::stat(target.c_str(), &owner) != 0)
    throw Error(Exit::failure, "'{}': {}", target, fs::errno_text(errno));
  for (const auto& s : spaces) {
    out.entries += lifeboat::restore::extract_tar(repo, s.node, s.dest);
    out.bytes += s.node.size;
    // A backup whose main archive has no link for it (a tablespace_map instead) gets one.
    std::string link = without_trailing_slash(target) + "/pg_tblspc/" + s.oid;
    struct stat st {};
    if (::lstat(link.c_str(), &st) != 0) {
      fs::make_dirs(without_trailing_slash(target) + "/pg_tblspc", 0700);
      if (::symlink(s.dest.c_str(), link.c_str()) != 0)
        throw Error(Exit::failure, "unable to link '{}' to '{}': {}", link, s.dest,
                    fs::errno_text(errno));
      if (::geteuid() == 0) (void)::lchown(link.c_str(), owner.st_uid, owner.st_gid);
    }
    out.tablespaces.emplace_back(s.oid, s.dest);
  }
  if (auto manifest = find_node(repo, base.snapshot.tree, pg::k_manifest_path)) {
    if (manifest->type != repo::NodeType::file)
      throw IntegrityError("snapshot {}: {} is not a file", short_id, pg::k_manifest_path);
    write_node(repo, *manifest, without_trailing_slash(target) + pg::k_manifest_path, owner.st_uid,
               owner.st_gid);
    out.bytes += manifest->size;
  }
  return out;
}

}  // namespace lifeboat::ops::restore
