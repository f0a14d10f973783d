#include "lifeboat/restore/tar.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <map>
#include <memory>
#include <set>

#include "lifeboat/core/cancel.hpp"
#include "lifeboat/restore/restorer.hpp"
#include "lifeboat/util/fs.hpp"
#include "lifeboat/util/stack.hpp"

namespace lifeboat::restore {

namespace {

struct ArchiveFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

mode_t type_bits(repo::NodeType t) {
  switch (t) {
    case repo::NodeType::file:
      return AE_IFREG;
    case repo::NodeType::dir:
      return AE_IFDIR;
    case repo::NodeType::symlink:
      return AE_IFLNK;
    case repo::NodeType::fifo:
      return AE_IFIFO;
    case repo::NodeType::chardev:
      return AE_IFCHR;
    case repo::NodeType::blockdev:
      return AE_IFBLK;
    case repo::NodeType::socket:
      return AE_IFSOCK;
  }
  return AE_IFREG;
}

class TarWriter {
 public:
  TarWriter(repo::Repository& repo, int fd, Reporter& reporter)
      : m_repo(repo), m_reporter(reporter), m_cache(repo) {
    m_archive.reset(archive_write_new());
    archive_write_set_format_pax(m_archive.get());
    // SCHILY.xattr.* is what GNU tar (--xattrs) and bsdtar both read.
    archive_write_set_format_option(m_archive.get(), "pax", "xattrheader", "SCHILY");
    archive_write_set_bytes_in_last_block(m_archive.get(), 1);
    if (archive_write_open_fd(m_archive.get(), fd) != ARCHIVE_OK) fail("open");
  }
  ~TarWriter() = default;

  void finish() {
    if (archive_write_close(m_archive.get()) != ARCHIVE_OK) fail("close");
  }

  void walk(const Id32& tree_id, const std::string& prefix, int depth) {
    cancel::check();
    if (depth > 4096 || stack_low() || m_ancestors.count(tree_id)) {
      m_reporter.report(prefix, "directory nested too deep or containing itself; skipped");
      return;
    }
    repo::Tree tree;
    try {
      tree = m_repo.read_tree(tree_id);
    } catch (const IntegrityError& e) {
      m_reporter.report(prefix.empty() ? "/" : prefix, e.what());
      return;
    }
    m_ancestors.insert(tree_id);
    std::set<std::string> seen;
    for (auto& node : tree.nodes) {
      std::string path = prefix.empty() ? node.name : prefix + "/" + node.name;
      if (auto why = bad_name(node.name)) {
        m_reporter.report("/" + prefix + "/" + node.name,
                          "unsafe name in snapshot (" + *why + "); skipped");
        continue;
      }
      if (!seen.insert(node.name).second) {
        m_reporter.report("/" + path, "duplicate name in snapshot; skipped");
        continue;
      }
      write_node(node, path);
      if (node.type == repo::NodeType::dir && node.subtree) walk(*node.subtree, path, depth + 1);
    }
    m_ancestors.erase(tree_id);
  }

 private:
  [[noreturn]] void fail(const char* what) {
    throw Error(Exit::failure, "unable to write the tar stream ({}): {}", what,
                archive_error_string(m_archive.get()) ? archive_error_string(m_archive.get())
                                                      : "unknown error");
  }

  void write_node(const repo::Node& node, const std::string& path) {
    std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
    archive_entry_copy_pathname(e.get(), path.c_str());
    archive_entry_set_filetype(e.get(), type_bits(node.type));
    archive_entry_set_perm(e.get(), node.mode & 07777);
    archive_entry_set_uid(e.get(), node.uid);
    archive_entry_set_gid(e.get(), node.gid);
    if (!node.user.empty()) archive_entry_copy_uname(e.get(), node.user.c_str());
    if (!node.group.empty()) archive_entry_copy_gname(e.get(), node.group.c_str());
    archive_entry_set_mtime(e.get(), node.mtime_ns / 1000000000, node.mtime_ns % 1000000000);
    for (auto& [k, v] : node.xattrs)
      archive_entry_xattr_add_entry(e.get(), k.c_str(), v.data(), v.size());
    bool data = false;
    uint64_t size = 0;
    for (auto& item : node.content)
      size +=
          item.hole
              ? item.hole
              : (m_repo.index().find(item.chunk) ? m_repo.index().find(item.chunk)->raw_length : 0);
    switch (node.type) {
      case repo::NodeType::symlink:
        archive_entry_copy_symlink(e.get(), node.target.c_str());
        break;
      case repo::NodeType::chardev:
      case repo::NodeType::blockdev:
        archive_entry_set_rdev(e.get(), static_cast<dev_t>(node.rdev));
        break;
      case repo::NodeType::file: {
        if (node.links > 1) {
          auto it = m_links.find(node.inode);
          if (it != m_links.end()) {
            archive_entry_copy_hardlink(e.get(), it->second.c_str());
            archive_entry_set_size(e.get(), 0);
            break;
          }
          m_links.emplace(node.inode, path);
        }
        archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
        data = true;
        break;
      }
      default:
        break;
    }
    // ARCHIVE_WARN: a name that is not UTF-8 was stored as raw bytes with hdrcharset=BINARY
    // for that entry alone, which is what we want.
    if (archive_write_header(m_archive.get(), e.get()) < ARCHIVE_WARN) fail("header");
    if (!data) return;
    static const Bytes zeros(1 << 16);
    for (auto& item : node.content) {
      cancel::check();
      if (item.hole) {
        for (uint64_t left = item.hole; left > 0;) {
          size_t n = static_cast<size_t>(std::min<uint64_t>(left, zeros.size()));
          if (archive_write_data(m_archive.get(), zeros.data(), n) < 0) fail("data");
          left -= n;
        }
        continue;
      }
      auto blob = m_cache.get(item.chunk);  // an IntegrityError aborts: a tar cannot skip bytes
      if (archive_write_data(m_archive.get(), blob->data(), blob->size()) < 0) fail("data");
    }
  }

  repo::Repository& m_repo;
  Reporter& m_reporter;
  BlobCache m_cache;
  std::unique_ptr<archive, ArchiveFree> m_archive;
  std::map<uint64_t, std::string> m_links;
  std::set<Id32> m_ancestors;
};

}  // namespace

void write_tar(repo::Repository& repo, const Id32& root_tree, int fd, Reporter& reporter) {
  repo.require_read("dumping a snapshot");
  repo.load_index();
  TarWriter w(repo, fd, reporter);
  w.walk(root_tree, "", 0);
  w.finish();
}

bool empty_directory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return false;
  bool empty = true;
  while (auto* de = ::readdir(d))
    if (std::strcmp(de->d_name, ".") != 0 && std::strcmp(de->d_name, "..") != 0) empty = false;
  ::closedir(d);
  return empty;
}

uint64_t extract_tar(repo::Repository& repo, const repo::Node& file, const std::string& target,
                     const std::map<std::string, std::string>& relink) {
  struct stat st {};
  if (::stat(target.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) throw UsageError("--target '{}' is not a directory", target);
    if (!empty_directory(target))
      throw UsageError(
          "--target '{}' is not empty: a base backup is restored into an empty directory", target);
  } else {
    // Missing parents are made traversable (the server user must reach its directory).
    auto slash = target.find_last_not_of('/');
    slash = slash == std::string::npos ? std::string::npos : target.rfind('/', slash);
    if (slash != std::string::npos && slash > 0) fs::make_dirs(target.substr(0, slash), 0755);
    fs::make_dirs(target, 0700);
  }
  ::chmod(target.c_str(), 0700);
  // The file's content, blob by blob, as libarchive's input.
  struct Source {
    repo::Repository& repo;
    const repo::Node& file;
    size_t next = 0;
    Bytes current;
    uint64_t hole = 0;
    Bytes zeros;
  } src{repo, file, 0, {}, 0, Bytes(1 << 16)};
  std::unique_ptr<archive, decltype(&archive_read_free)> in(archive_read_new(), archive_read_free);
  std::unique_ptr<archive, decltype(&archive_write_free)> out(archive_write_disk_new(),
                                                              archive_write_free);
  archive_read_support_format_tar(in.get());
  int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
              ARCHIVE_EXTRACT_SECURE_SYMLINKS;
  if (::geteuid() == 0) flags |= ARCHIVE_EXTRACT_OWNER;
  archive_write_disk_set_options(out.get(), flags);
  archive_write_disk_set_standard_lookup(out.get());
  std::exception_ptr failure;
  struct Guard {  // the callback must not let an exception cross libarchive's C frames
    Source* s;
    std::exception_ptr* failure;
  } guard{&src, &failure};
  auto guarded_read = [](archive* a, void* data, const void** buf) -> la_ssize_t {
    auto* g = static_cast<Guard*>(data);
    try {
      auto* s = g->s;
      for (;;) {
        if (s->hole > 0) {
          size_t n = static_cast<size_t>(std::min<uint64_t>(s->hole, s->zeros.size()));
          s->hole -= n;
          *buf = s->zeros.data();
          return static_cast<la_ssize_t>(n);
        }
        if (s->next >= s->file.content.size()) return 0;
        const auto& item = s->file.content[s->next++];
        if (item.hole) {
          s->hole = item.hole;
          continue;
        }
        s->current = s->repo.read_blob(item.chunk);
        *buf = s->current.data();
        return static_cast<la_ssize_t>(s->current.size());
      }
    } catch (...) {
      *g->failure = std::current_exception();
      archive_set_error(a, EIO, "reading the snapshot failed");
      return -1;
    }
  };
  if (archive_read_open(in.get(), &guard, nullptr, guarded_read, nullptr) != ARCHIVE_OK)
    throw Error(Exit::failure, "cannot read the stored tar: {}", archive_error_string(in.get()));
  uint64_t entries = 0;
  la_int64_t owner_uid = -1, owner_gid = -1;
  std::string root = target;
  while (!root.empty() && root.back() == '/') root.pop_back();
  for (;;) {
    cancel::check();
    archive_entry* e = nullptr;
    int r = archive_read_next_header(in.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (failure) std::rethrow_exception(failure);
    if (r < ARCHIVE_WARN)
      throw Error(Exit::failure, "the stored tar is broken: {}", archive_error_string(in.get()));
    std::string name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    // Members are placed under the target by name: an absolute name, or one that climbs out,
    // is refused (libarchive refuses '..' and paths through symbolic links itself).
    const char* link = archive_entry_hardlink(e);
    for (const std::string& n : {name, std::string(link ? link : "")})
      if (!n.empty() && (n[0] == '/' || n == ".." || n.rfind("../", 0) == 0 ||
                         n.find("/../") != std::string::npos ||
                         (n.size() >= 3 && n.compare(n.size() - 3, 3, "/..") == 0)))
        throw IntegrityError("the stored tar holds a member outside its directory: '{}'",
                             printable(n));
    if (name.empty()) throw IntegrityError("the stored tar holds a member without a name");
    if (entries == 0) {  // the directory takes the owner of what it holds (the server user)
      owner_uid = archive_entry_uid(e);
      owner_gid = archive_entry_gid(e);
      if (const char* u = archive_entry_uname(e))
        if (auto* pw = ::getpwnam(u)) owner_uid = pw->pw_uid;
      if (const char* g = archive_entry_gname(e))
        if (auto* gr = ::getgrnam(g)) owner_gid = gr->gr_gid;
    } else if (archive_entry_uid(e) == 0 && owner_uid > 0) {
      // Members added by a client running as root (pg_basebackup's backup_manifest) belong to
      // the directory's owner too: the server and its tools must read them.
      archive_entry_set_uid(e, owner_uid);
      archive_entry_set_gid(e, owner_gid);
      archive_entry_set_uname(e, nullptr);
      archive_entry_set_gname(e, nullptr);
    }
    if (archive_entry_filetype(e) == AE_IFLNK && !relink.empty()) {
      std::string bare = name;  // PostgreSQL names pg_tblspc's links "pg_tblspc/OID/"
      while (bare.size() > 1 && bare.back() == '/') bare.pop_back();
      if (auto it = relink.find(bare); it != relink.end())
        archive_entry_copy_symlink(e, it->second.c_str());
    }
    archive_entry_set_pathname(e, (root + "/" + name).c_str());
    if (link) archive_entry_set_hardlink(e, (root + "/" + link).c_str());
    r = archive_write_header(out.get(), e);
    if (r < ARCHIVE_WARN)
      throw Error(Exit::failure, "unable to restore '{}': {}", name,
                  archive_error_string(out.get()));
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    while ((r = archive_read_data_block(in.get(), &block, &size, &offset)) == ARCHIVE_OK) {
      if (archive_write_data_block(out.get(), block, size, offset) < ARCHIVE_WARN)
        throw Error(Exit::failure, "unable to write '{}': {}", name,
                    archive_error_string(out.get()));
    }
    if (failure) std::rethrow_exception(failure);
    if (r != ARCHIVE_EOF)
      throw Error(Exit::failure, "the stored tar is broken at '{}': {}", name,
                  archive_error_string(in.get()));
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN)
      throw Error(Exit::failure, "unable to finish '{}': {}", name,
                  archive_error_string(out.get()));
    ++entries;
  }
  if (failure) std::rethrow_exception(failure);
  if (archive_write_close(out.get()) != ARCHIVE_OK)
    throw Error(Exit::failure, "unable to finish the restore: {}", archive_error_string(out.get()));
  if (::geteuid() == 0 && owner_uid >= 0 &&
      ::chown(root.c_str(), static_cast<uid_t>(owner_uid), static_cast<gid_t>(owner_gid)) != 0)
    throw Error(Exit::failure, "unable to give '{}' to its owner: {}", root, fs::errno_text(errno));
  return entries;
}

}  // namespace lifeboat::restore
