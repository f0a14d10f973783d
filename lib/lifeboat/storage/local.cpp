// Local-disk storage: one file per object under a root directory. Writes go to a unique
// temporary name, are fsynced, renamed into place, and the directory is fsynced; a put
// succeeds only once every one of those fsyncs has.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <mutex>
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
  LocalStorage(std::string root, std::function<int(const std::string&)> fsync_fault)
      : m_root(std::move(root)), m_fsync_fault(std::move(fsync_fault)) {
    while (m_root.size() > 1 && m_root.back() == '/') m_root.pop_back();
  }

  void put(const std::string& key, ByteView data) override { put_parts(key, {&data, 1}); }

  void put_parts(const std::string& key, std::span<const ByteView> parts) override {
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
      sync_new_parents(dir);
      // A pack comes as one part per blob: written a thousand parts a call, not one.
      if (int err = fs::write_parts(fd.get(), parts); err != 0) fail("write", tmp, err);
      sync(fd.get(), tmp);
      fd.reset();
      if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename", path, errno);
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
    // Failing here leaves the whole object in place (a reader sees it complete) but whether
    // its name survives a crash is unknown: the put fails, and a retry writes it again.
    sync_dir(dir);
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
    uint64_t want = end - begin;
    if (out.capacity() < want) {  // room to spare: a caller reusing out reads similar sizes
      out.clear();
      out.reserve(want + want / 8);
    }
    out.resize(want);  // zero-fills only beyond what out held before
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

  // Asks the test hook (docs/testing.md) about an fsync of path, named below the root as the
  // rules name keys: "snapshots/ID.tmp-…", "data/3f", "" for the root itself.
  int injected_fault(const std::string& path) const {
    if (!m_fsync_fault) return 0;
    return m_fsync_fault(path.size() > m_root.size() ? path.substr(m_root.size() + 1) : "");
  }

  void sync(int fd, const std::string& path) {
    int err = injected_fault(path);
    if (err == 0 && ::fsync(fd) != 0) err = errno;
    // EIO is retried (as a transient error) by writing the object anew to a new temporary
    // file: never by trusting a second fsync of pages the kernel may have dropped.
    if (err != 0) fail("fsync", path, err);
  }

  void sync_dir(const std::string& dir) {
    fs::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) fail("open directory", dir, errno);
    int err = injected_fault(dir);
    // EINVAL: a filesystem that cannot sync directories; it has nothing more to make durable.
    if (err == 0 && ::fsync(fd.get()) != 0 && errno != EINVAL) err = errno;
    if (err != 0) fail("fsync directory", dir, err);
  }

  void make_dirs(const std::string& dir) {
    {
      // Recorded before it exists: a put that finds the directory syncs its parents too.
      std::lock_guard lock(m_mutex);
      ++m_new_dirs[dir];
    }
    try {
      fs::make_dirs(dir, 0700);
    } catch (const Error&) {
      fail("create directory", dir, errno);
    }
  }

  // Makes the entries of a directory this process created durable before anything written
  // into it can be referenced (an index must never outlive the pack directory it points
  // into). Every put into the directory does it until one succeeds, so a failed fsync is
  // retried with the put, and a put racing the one that created the directory waits for none.
  void sync_new_parents(const std::string& dir) {
    uint64_t generation = 0;
    {
      std::lock_guard lock(m_mutex);
      auto it = m_new_dirs.find(dir);
      if (it == m_new_dirs.end()) return;
      generation = it->second;
    }
    for (std::string d = dir; d.size() > m_root.size(); d = d.substr(0, d.rfind('/')))
      sync_dir(d.substr(0, d.rfind('/')));
    std::lock_guard lock(m_mutex);
    auto it = m_new_dirs.find(dir);
    if (it != m_new_dirs.end() && it->second == generation) m_new_dirs.erase(it);
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
  std::function<int(const std::string&)> m_fsync_fault;
  std::atomic<uint64_t> m_counter{0};
  std::mutex m_mutex;
  std::map<std::string, uint64_t> m_new_dirs;  // created here, parents not yet synced
};

}  // namespace

std::unique_ptr<Storage> make(const std::string& root,
                              std::function<int(const std::string&)> fsync_fault_for_testing) {
  return std::make_unique<LocalStorage>(root, std::move(fsync_fault_for_testing));
}

}  // namespace lifeboat::storage::local
