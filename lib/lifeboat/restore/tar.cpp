#include "lifeboat/restore/tar.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <map>
#include <memory>
#include <set>

#include "lifeboat/core/cancel.hpp"
#include "lifeboat/restore/restorer.hpp"

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
    if (depth > 4096 || m_ancestors.count(tree_id)) {
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
      const Bytes& blob =
          m_cache.get(item.chunk);  // an IntegrityError aborts: a tar cannot skip bytes
      if (archive_write_data(m_archive.get(), blob.data(), blob.size()) < 0) fail("data");
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

}  // namespace lifeboat::restore
