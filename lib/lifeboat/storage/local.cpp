// Local-disk storage: one file per object under a root directory. Writes go to a unique
// temporary name, are fsynced, renamed into place, and the directory is fsynced.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <random>

#include "lifeboat/storage/storage.hpp"
#include "lifeboat/util/fs.hpp"

namespace lifeboat::storage::local {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
  std::string msg = fmt::format("unable to {} '{}': {}", what, path, fs::errno_text(err));
  if (err == EACCES || err == EPERM || err == EROFS)
    throw PermanentError(msg + " (check the repository's permissions)",
                         err == EROFS ? Exit::not_permitted : Exit::storage);
  if (err == ENOSPC || err == EDQUOT)
    throw PermanentError(msg + " (free space on the repository's disk)");
  if (err == EIO || err == EINTR || err == EAGAIN) throw TransientError(msg);
  throw PermanentError(msg);
}

bool is_temp(const std::string& name) { return name.find(".tmp-") != std::string::npos; }

class LocalStorage final : public Storage {
 public:
  explicit LocalStorage(std::string root) : m_root(std::move(root)) {
    while (m_root.size() > 1 && m_root.back() == '/') m_root.pop_back();
  }

  void put(const std::string& key, ByteView data) override {
    std::string path = m_root + "/" + key;
    std::string dir = path.substr(0, path.rfind('/'));
    std::string tmp = fmt::format("{}.tmp-{:x}-{:x}", path, ::getpid(), m_counter++ ^ seed());
    fs::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd && errno == ENOENT) {
      make_dirs(dir);
      fd.reset(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    }
    if (!fd) fail("create", tmp, errno);
    try {
      size_t done = 0;
      while (done < data.size()) {
        ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
        if (n < 0) {
          if (errno == EINTR) continue;
          fail("write", tmp, errno);
        }
        done += static_cast<size_t>(n);
      }
      if (::fsync(fd.get()) != 0) fail("fsync", tmp, errno);
      fd.reset();
      if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename", path, errno);
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
    fs::fsync_dir(dir);
  }

  bool get(const std::string& key, Bytes& out, std::optional<Range> range) override {
    std::string path = m_root + "/" + key;
    fs::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT || errno == ENOTDIR) return false;
      fail("open", path, errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) fail("stat", path, errno);
    uint64_t size = static_cast<uint64_t>(st.st_size);
    uint64_t begin = range ? std::min(range->offset, size) : 0;
    uint64_t end = range ? std::min(begin + range->length, size) : size;
    out.resize(end - begin);
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n =
          ::pread(fd.get(), out.data() + done, out.size() - done, static_cast<off_t>(begin + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("read", path, errno);
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    out.resize(done);
    return true;
  }

  std::optional<uint64_t> stat(const std::string& key) override {
    std::string path = m_root + "/" + key;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
      fail("stat", path, errno);
    }
    return static_cast<uint64_t>(st.st_size);
  }

  void list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override {
    // Prefixes are directories ("data/", "snapshots/") or whole keys.
    std::string dir = prefix;
    while (!dir.empty() && dir.back() == '/') dir.pop_back();
    walk(dir, fn);
  }

  void remove(const std::string& key) override {
    std::string path = m_root + "/" + key;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail("remove", path, errno);
  }

  std::string describe() const override { return m_root; }

  Leftovers stale_uploads(int64_t written_before_ns, bool remove) override {
    Leftovers found;
    stale_in("", written_before_ns, remove, found, 0);
    return found;
  }

 private:
  void stale_in(const std::string& rel, int64_t before_ns, bool remove, Leftovers& found,
                int depth) {
    if (depth > 8) return;  // the layout is two levels deep
    std::string path = rel.empty() ? m_root : m_root + "/" + rel;
    DIR* d = ::opendir(path.c_str());
    if (!d) {
      if (errno == ENOENT || errno == ENOTDIR) return;
      fail("list", path, errno);
    }
    std::vector<std::string> names;
    while (auto* e = ::readdir(d)) {
      std::string name = e->d_name;
      // Only directories and temporary names need a look (not every pack's inode).
      bool maybe_dir = e->d_type == DT_DIR || e->d_type == DT_UNKNOWN;
      if (name != "." && name != ".." && (maybe_dir || is_temp(name))) names.push_back(name);
    }
    ::closedir(d);
    for (const auto& name : names) {
      std::string child = path + "/" + name;
      struct stat st {};
      if (::lstat(child.c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        stale_in(rel.empty() ? name : rel + "/" + name, before_ns, remove, found, depth + 1);
        continue;
      }
      int64_t mtime = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
      if (!S_ISREG(st.st_mode) || !is_temp(name) || mtime >= before_ns) continue;
      if (remove && ::unlink(child.c_str()) != 0 && errno != ENOENT) fail("remove", child, errno);
      found.count++;
      found.bytes += static_cast<uint64_t>(st.st_size);
    }
  }

  static uint64_t seed() {
    static const uint64_t s = std::random_device{}();
    return s;
  }

  void make_dirs(const std::string& dir) {
    try {
      fs::make_dirs(dir, 0700);
    } catch (const Error&) {
      fail("create directory", dir, errno);
    }
    // Make the new directory entries durable before anything written into them can be
    // referenced (an index must never outlive the pack directory it points into).
    for (std::string d = dir; d.size() > m_root.size(); d = d.substr(0, d.rfind('/')))
      fs::fsync_dir(d.substr(0, d.rfind('/')));
  }

  void walk(const std::string& rel, const std::function<void(const ObjectInfo&)>& fn) {
    std::string path = rel.empty() ? m_root : m_root + "/" + rel;
    DIR* d = ::opendir(path.c_str());
    if (!d) {
      if (errno == ENOENT || errno == ENOTDIR) return;
      fail("list", path, errno);
    }
    std::vector<std::pair<std::string, bool>> entries;
    while (auto* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == ".." || is_temp(name)) continue;
      entries.emplace_back(name, e->d_type == DT_DIR);
    }
    ::closedir(d);
    for (auto& [name, is_dir] : entries) {
      std::string child = rel.empty() ? name : rel + "/" + name;
      struct stat st {};
      if (::lstat((m_root + "/" + child).c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode))
        walk(child, fn);
      else if (S_ISREG(st.st_mode))
        fn({child, static_cast<uint64_t>(st.st_size)});
    }
  }

  std::string m_root;
  std::atomic<uint64_t> m_counter{0};
};

}  // namespace

std::unique_ptr<Storage> make(const std::string& root) {
  return std::make_unique<LocalStorage>(root);
}

}  // namespace lifeboat::storage::local
