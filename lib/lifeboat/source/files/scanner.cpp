#include "lifeboat/source/files/scanner.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "lifeboat/core/cancel.hpp"
#include "lifeboat/core/log.hpp"
#include "lifeboat/core/test_tuning.hpp"
#include "lifeboat/util/fs.hpp"

namespace lifeboat::source::files {

using repo::ContentItem;
using repo::Node;
using repo::NodeType;
using repo::Tree;

namespace {

int64_t ns_of(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

NodeType type_of(mode_t mode) {
  if (S_ISREG(mode)) return NodeType::file;
  if (S_ISDIR(mode)) return NodeType::dir;
  if (S_ISLNK(mode)) return NodeType::symlink;
  if (S_ISFIFO(mode)) return NodeType::fifo;
  if (S_ISCHR(mode)) return NodeType::chardev;
  if (S_ISBLK(mode)) return NodeType::blockdev;
  return NodeType::socket;
}

std::string join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

// A read error inside one file: the file is skipped and reported, the backup goes on.
struct FileReadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Thrown inside readers when the walk is unwinding: the backup is failing already.
struct Aborted {};

std::string proc_path(int dirfd, const std::string& name) {
  return fmt::format("/proc/self/fd/{}/{}", dirfd, name);
}

fs::UniqueFd open_file(int dirfd, const std::string& name, int flags) {
  int fd = ::openat(dirfd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM)  // O_NOATIME needs ownership
    fd = ::openat(dirfd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
  return fs::UniqueFd(fd);
}

}  // namespace

std::string normalize_path(const std::string& path) {
  std::string abs = path;
  if (abs.empty() || abs[0] != '/') {
    char cwd[PATH_MAX];
    if (!::getcwd(cwd, sizeof cwd))
      throw Error(Exit::failure, "unable to determine the working directory: {}",
                  fs::errno_text(errno));
    abs = std::string(cwd) + "/" + abs;
  }
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= abs.size()) {
    size_t slash = abs.find('/', pos);
    if (slash == std::string::npos) slash = abs.size();
    std::string part = abs.substr(pos, slash - pos);
    pos = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

struct Scanner::VirtualDir {
  Node node;
  std::map<std::string, std::unique_ptr<VirtualDir>> children;
  std::vector<Node> leaves;
};

Scanner::Scanner(repo::Repository& repo, repo::BlobSaver& saver, FilesCache& cache,
                 Reporter& reporter)
    : m_repo(repo),
      m_saver(saver),
      m_cache(cache),
      m_reporter(reporter),
      m_chunker(repo.gear(), repo.config().chunker, nullptr) {}

Scanner::~Scanner() { stop_readers(); }

std::string Scanner::user_name(uint32_t uid) {
  auto it = m_users.find(uid);
  if (it != m_users.end()) return it->second;
  std::string name;
  if (auto* pw = ::getpwuid(uid)) name = pw->pw_name;
  m_users.emplace(uid, name);
  return name;
}

std::string Scanner::group_name(uint32_t gid) {
  auto it = m_groups.find(gid);
  if (it != m_groups.end()) return it->second;
  std::string name;
  if (auto* gr = ::getgrgid(gid)) name = gr->gr_name;
  m_groups.emplace(gid, name);
  return name;
}

Id32 Scanner::save_tree(Tree& tree) {
  std::sort(tree.nodes.begin(), tree.nodes.end(),
            [](const Node& a, const Node& b) { return a.name < b.name; });
  return repo::save_tree_parts(tree, [&](Bytes data) {
    Id32 id = m_repo.mac().compute(data);
    m_saver.save(repo::BlobType::tree, id, std::move(data));
    return id;
  });
}

bool Scanner::read_xattrs(int fd, const std::string& proc, const std::string& path, Node& node) {
  std::vector<char>& names = m_xattr_names;  // kept from file to file (one allocation)
  if (names.size() < 1024) names.resize(1024);
  ssize_t n;
  for (;;) {
    n = fd >= 0 ? ::flistxattr(fd, names.data(), names.size())
                : ::llistxattr(proc.c_str(), names.data(), names.size());
    if (n >= 0) break;
    if (errno == ERANGE && names.size() < (1u << 20)) {
      names.resize(names.size() * 4);
      continue;
    }
    if (errno == ENOTSUP || errno == EPERM) return true;  // none here, or none readable
    m_reporter.report(path,
                      fmt::format("unable to list extended attributes: {}", fs::errno_text(errno)));
    return false;
  }
  bool complete = true;
  for (ssize_t pos = 0; pos < n;) {
    std::string name(names.data() + pos);
    pos += static_cast<ssize_t>(name.size()) + 1;
    Bytes value(256);
    ssize_t len;
    for (;;) {
      len = fd >= 0 ? ::fgetxattr(fd, name.c_str(), value.data(), value.size())
                    : ::lgetxattr(proc.c_str(), name.c_str(), value.data(), value.size());
      if (len >= 0 || errno != ERANGE || value.size() >= (1u << 20)) break;
      value.resize(value.size() * 4);
    }
    if (len < 0) {
      if (errno != ENODATA) {
        m_reporter.report(path, fmt::format("unable to read extended attribute '{}': {}", name,
                                            fs::errno_text(errno)));
        complete = false;
      }
      continue;
    }
    value.resize(static_cast<size_t>(len));
    node.xattrs.emplace_back(std::move(name), std::move(value));
  }
  std::sort(node.xattrs.begin(), node.xattrs.end());
  return complete;
}

uint64_t Scanner::chunk_range(chunk::Chunker& chunker, int fd, uint64_t begin, uint64_t end,
                              std::vector<ContentItem>& out) {
  uint64_t pos = begin;
  chunker.reset([&](std::byte* buf, size_t n) -> size_t {
    if (pos >= end) return 0;
    size_t want = static_cast<size_t>(std::min<uint64_t>(n, end - pos));
    for (;;) {
      ssize_t got = ::pread(fd, buf, want, static_cast<off_t>(pos));
      if (got < 0) {
        if (errno == EINTR) continue;
        throw FileReadError(fs::errno_text(errno));
      }
      pos += static_cast<uint64_t>(got);
      if (got == 0) pos = end;  // the file shrank while being read
      return static_cast<size_t>(got);
    }
  });
  return consume_chunks(chunker, out);
}

uint64_t Scanner::consume_chunks(chunk::Chunker& chunker, std::vector<ContentItem>& out) {
  uint64_t total = 0;
  for (;;) {
    cancel::check();
    if (m_abort) throw Aborted();
    ByteView chunk = chunker.next();
    if (chunk.empty()) return total;
    total += chunk.size();
    Id32 id = m_repo.mac().compute(chunk);
    if (!m_saver.known(id))
      m_saver.save(repo::BlobType::data, id, Bytes(chunk.begin(), chunk.end()));
    out.push_back({id, 0});
  }
}

bool Scanner::read_content(chunk::Chunker& chunker, int fd, const std::string& path,
                           const struct stat& st, Node& node, uint64_t& bytes_read) {
  uint64_t size = static_cast<uint64_t>(st.st_size);
  bool sparse = static_cast<uint64_t>(st.st_blocks) * 512 < size;
  std::vector<ContentItem> content;
  try {
    uint64_t pos = 0;
    while (pos < size) {
      uint64_t data = pos, hole = size;
      if (sparse) {
        off_t d = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
        if (d < 0 && errno == ENXIO) {
          data = size;  // only a hole remains
        } else if (d >= 0) {
          data = static_cast<uint64_t>(d);
          off_t h = ::lseek(fd, d, SEEK_HOLE);
          hole = h < 0 ? size : std::min<uint64_t>(static_cast<uint64_t>(h), size);
        }
      }
      if (data > pos) content.push_back({{}, std::min(data, size) - pos});
      if (data >= size) break;
      bytes_read += chunk_range(chunker, fd, data, hole, content);
      pos = hole;
    }
  } catch (const FileReadError& e) {
    m_reporter.report(path, fmt::format("unable to read: {}", e.what()));
    return false;
  }
  struct stat after {};
  if (::fstat(fd, &after) == 0 &&
      (after.st_size != st.st_size || ns_of(after.st_mtim) != ns_of(st.st_mtim)))
    log::warn("{}: changed while it was being read; the snapshot holds the bytes read",
              printable(path));
  node.content = std::move(content);
  return true;
}

bool Scanner::read_file(FileTask& t, chunk::Chunker& chunker) {
  Node& node = *t.node;
  uint64_t bytes = 0;
  bool ok = read_content(chunker, t.fd.get(), t.path, t.st, node, bytes);
  std::lock_guard lock(m_mutex);
  m_stats.bytes_read += bytes;
  if (!ok) return false;
  // A file changed within a timestamp tick of its reading could change again without its
  // mtime/ctime moving (coarse clocks, network filesystems): the cache vouches only for
  // files that were already a second old when their reading began.
  int64_t settled = t.read_start_ns - 1'000'000'000;
  (!t.cached ? m_stats.files_new : t.same ? m_stats.files_unchanged : m_stats.files_changed)++;
  if (node.mtime_ns < settled && ns_of(t.st.st_ctim) < settled) {
    CacheEntry entry{static_cast<uint64_t>(t.st.st_ino),
                     node.size,
                     node.mtime_ns,
                     ns_of(t.st.st_ctim),
                     node.content,
                     std::nullopt};
    if (t.xattrs_read) entry.xattrs = node.xattrs;
    m_cache.put(t.path, entry);
  }
  return true;
}

bool Scanner::scan_entry(int dirfd, const std::string& name, const std::string& path,
                         uint64_t root_dev, Node& node, DirWait* dir, size_t index,
                         unsigned char dtype) {
  struct stat st {};
  // A regular file: its cache entry is looked up before its stat, and a file the cache does
  // not know is opened at once and stat'ed through its descriptor (one system call fewer
  // than a stat by name, and what is read is what was stat'ed). Anything else, or a file
  // that is no longer regular, goes by its name.
  fs::UniqueFd file_fd;
  std::optional<CacheEntry> cached;
  int64_t read_start_ns = 0;
  bool looked_up = false;
  auto look_up = [&] {
    // Taken before anything of the file is looked at: see read_file.
    struct timespec start {};
    ::clock_gettime(CLOCK_REALTIME, &start);
    read_start_ns = ns_of(start);
    cached = m_cache.find(path);
    looked_up = true;
  };
  if (dtype == DT_REG) {
    look_up();
    if (!cached) {
      file_fd = open_file(dirfd, name, O_RDONLY | O_NONBLOCK);
      if (file_fd && (::fstat(file_fd.get(), &st) != 0 || !S_ISREG(st.st_mode))) file_fd.reset();
    }
  }
  if (!file_fd && ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    m_reporter.report(path, fmt::format("unable to stat: {}", fs::errno_text(errno)));
    return false;
  }
  node.name = name;
  node.type = type_of(st.st_mode);
  node.mode = st.st_mode & 07777;
  node.uid = st.st_uid;
  node.gid = st.st_gid;
  node.user = user_name(st.st_uid);
  node.group = group_name(st.st_gid);
  node.mtime_ns = ns_of(st.st_mtim);
  if (node.type != NodeType::dir && st.st_nlink > 1) {
    node.links = static_cast<uint32_t>(st.st_nlink);
    // A small number per (device, inode) within this snapshot: names the link group exactly.
    node.inode =
        m_link_ids.try_emplace({st.st_dev, st.st_ino}, m_link_ids.size() + 1).first->second;
  }
  if (node.type == NodeType::chardev || node.type == NodeType::blockdev) node.rdev = st.st_rdev;

  switch (node.type) {
    case NodeType::dir: {
      m_stats.dirs++;
      fs::UniqueFd fd = open_file(dirfd, name, O_RDONLY | O_DIRECTORY);
      if (!fd) {
        m_reporter.report(path, fmt::format("unable to open directory: {}", fs::errno_text(errno)));
        return false;
      }
      read_xattrs(fd.get(), {}, path, node);
      if (m_options->one_file_system && st.st_dev != root_dev) {
        Tree empty;  // a mount point: kept, but not descended into
        node.subtree = save_tree(empty);
      } else {
        node.subtree = scan_dir(fd.get(), path, root_dev);
      }
      return true;
    }
    case NodeType::file: {
      node.size = static_cast<uint64_t>(st.st_size);
      if (!looked_up) look_up();
      bool same = cached && cached->inode == st.st_ino && cached->size == node.size &&
                  cached->mtime_ns == node.mtime_ns && cached->ctime_ns == ns_of(st.st_ctim);
      if (same && m_options->use_cache &&
          std::all_of(cached->content.begin(), cached->content.end(),
                      [&](const ContentItem& c) { return c.hole || m_saver.known(c.chunk); })) {
        // Setting or removing an extended attribute changes the ctime: the recorded ones
        // still hold, and are not listed again.
        if (cached->xattrs)
          node.xattrs = *cached->xattrs;
        else if (read_xattrs(-1, proc_path(dirfd, name), path, node))
          cached->xattrs = node.xattrs;
        std::lock_guard lock(m_mutex);
        m_stats.files_unchanged++;
        m_cache.put(path, *cached);
        node.content = std::move(cached->content);
        return true;
      }
      fs::UniqueFd fd = std::move(file_fd);
      struct stat fst = st;
      if (!fd) {
        // Not blocking: a name found regular may have become a FIFO since.
        fd = open_file(dirfd, name, O_RDONLY | O_NONBLOCK);
        if (!fd) {
          m_reporter.report(path, fmt::format("unable to open: {}", fs::errno_text(errno)));
          return false;
        }
        if (::fstat(fd.get(), &fst) != 0 || !S_ISREG(fst.st_mode) || fst.st_ino != st.st_ino) {
          m_reporter.report(path, "replaced while being backed up; skipped");
          return false;
        }
      }
      bool xattrs_read = read_xattrs(fd.get(), {}, path, node);
      // Size and times as of the open file, which is what is read.
      node.size = static_cast<uint64_t>(fst.st_size);
      node.mtime_ns = ns_of(fst.st_mtim);
      FileTask task{std::move(fd), path,        fst,           &node, cached.has_value(),
                    same,          xattrs_read, read_start_ns, dir,   index};
      if (!dir) return read_file(task, m_chunker);
      submit(std::move(task));
      return true;
    }
    case NodeType::symlink: {
      m_stats.others++;
      std::string target(256, '\0');
      for (;;) {
        ssize_t n = ::readlinkat(dirfd, name.c_str(), target.data(), target.size());
        if (n < 0) {
          m_reporter.report(path, fmt::format("unable to read symlink: {}", fs::errno_text(errno)));
          return false;
        }
        if (static_cast<size_t>(n) < target.size()) {
          target.resize(static_cast<size_t>(n));
          break;
        }
        target.resize(target.size() * 4);
      }
      node.target = std::move(target);
      read_xattrs(-1, proc_path(dirfd, name), path, node);
      return true;
    }
    default:
      m_stats.others++;
      read_xattrs(-1, proc_path(dirfd, name), path, node);
      return true;
  }
}

Id32 Scanner::scan_dir(int fd, const std::string& path, uint64_t root_dev) {
  std::vector<std::pair<std::string, unsigned char>> names;  // and their types, if known
  {
    int dup_fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    DIR* d = dup_fd >= 0 ? ::fdopendir(dup_fd) : nullptr;
    if (!d) {
      if (dup_fd >= 0) ::close(dup_fd);
      m_reporter.report(path, fmt::format("unable to list directory: {}", fs::errno_text(errno)));
      Tree empty;
      return save_tree(empty);
    }
    errno = 0;
    while (auto* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.emplace_back(std::move(n), e->d_type);
    }
    if (errno != 0)
      m_reporter.report(
          path, fmt::format("unable to list directory completely: {}", fs::errno_text(errno)));
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  // A long listing is saved in parts as it goes, so that no more than one part's nodes are
  // held (docs/format/trees.md "Long directories").
  const bool split = names.size() > repo::k_tree_part_max;
  Tree tree, head;
  // Readers fill files' nodes in place: they must not move.
  tree.nodes.reserve(std::min(names.size(), repo::k_tree_part_max));
  DirWait wait;
  // Waits for the readers of the nodes so far; files that could not be read (reported) are
  // left out, as if they had not been listed.
  auto settle = [&] {
    wait_dir(wait);
    {
      std::lock_guard lock(m_mutex);
      if (m_error) std::rethrow_exception(m_error);
    }
    std::sort(wait.failed.rbegin(), wait.failed.rend());
    for (size_t i : wait.failed)
      tree.nodes.erase(tree.nodes.begin() + static_cast<std::ptrdiff_t>(i));
    wait.failed.clear();
  };
  {
    WaitGuard guard{*this, wait};  // even when unwinding, no reader is left writing a node
    for (auto& [name, dtype] : names) {
      std::string child = join(path, name);
      if (!m_options->excludes.empty() && m_options->excludes.matches(child)) continue;
      Node& node = tree.nodes.emplace_back();
      if (!scan_entry(fd, name, child, root_dev, node, &wait, tree.nodes.size() - 1, dtype)) {
        tree.nodes.pop_back();
        continue;
      }
      if (split && repo::tree_part_ends(name, tree.nodes.size())) {
        settle();
        head.parts.push_back(save_tree(tree));
        tree.nodes.clear();
      }
    }
  }
  settle();
  if (!split) return save_tree(tree);
  if (!tree.nodes.empty()) head.parts.push_back(save_tree(tree));
  return save_tree(head);
}

// Readers: files are opened and checked by the walk, then read, chunked and hashed by a pool
// of threads (their blobs go on to the BlobSaver's workers), so that reading and hashing use
// every core (on 2 cores there is none: see start_readers). A directory's tree is saved once all
// its files are read; while it waits, the walk reads queued files itself.

void Scanner::start_readers() {
  if (!m_threads.empty()) return;
  m_stop = false;
  m_abort = false;
  // The BlobSaver's workers compress on every core already, and compressing costs about twice
  // what reading, chunking and hashing do: one reader per two cores beyond the first two,
  // besides the walk. On 2 cores the walk reads every file itself: handing each file to a
  // reader thread cost 35,000-40,000 context switches for the Linux tree, and with
  // a reader the backup took 9.0-9.3 CPU s and 5.1-5.7 s, without 8.4-8.6 and 4.8-5.0 (same
  // binary, alternating). More readers than this were not measured (no larger machine here).
  // LIFEBOAT_TEST_READERS sets the count, so that tests on 2 cores go through the readers too.
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  auto n = static_cast<unsigned>(
      test_tuning("LIFEBOAT_TEST_READERS", cores > 2 ? (cores - 2) / 2 : 0, 0, 16));
  for (unsigned i = 0; i < n; ++i) m_threads.emplace_back([this] { reader_loop(); });
}

void Scanner::stop_readers() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_cv_task.notify_all();
  for (auto& t : m_threads) t.join();
  m_threads.clear();
}

void Scanner::reader_loop() {
  chunk::Chunker chunker(m_repo.gear(), m_repo.config().chunker, nullptr);
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_cv_task.wait(lock, [&] { return m_stop || !m_tasks.empty(); });
    if (m_tasks.empty()) return;
    FileTask task = std::move(m_tasks.front());
    m_tasks.pop_front();
    lock.unlock();
    run_task(task, chunker);
    lock.lock();
  }
}

void Scanner::submit(FileTask task) {
  std::unique_lock lock(m_mutex);
  if (m_error) std::rethrow_exception(m_error);
  ++task.dir->pending;
  if (m_threads.empty() || m_tasks.size() >= k_queued_files) {
    lock.unlock();  // the readers have enough queued: the walk reads this one itself
    run_task(task, m_chunker);
    return;
  }
  m_tasks.push_back(std::move(task));
  m_cv_task.notify_one();
}

void Scanner::run_task(FileTask& task, chunk::Chunker& chunker) {
  bool ok = false;
  try {
    bool failed_before;
    {
      std::lock_guard lock(m_mutex);
      failed_before = m_error != nullptr;
    }
    if (!failed_before && !m_abort) ok = read_file(task, chunker);
  } catch (const Aborted&) {
  } catch (...) {
    std::lock_guard lock(m_mutex);
    if (!m_error) m_error = std::current_exception();
  }
  task.fd.reset();
  std::lock_guard lock(m_mutex);
  if (!ok) task.dir->failed.push_back(task.index);
  if (--task.dir->pending == 0) m_cv_done.notify_all();
}

void Scanner::wait_dir(DirWait& dir) {
  std::unique_lock lock(m_mutex);
  while (dir.pending > 0) {
    if (m_tasks.empty()) {
      m_cv_done.wait(lock, [&] { return dir.pending == 0 || !m_tasks.empty(); });
      continue;
    }
    FileTask task = std::move(m_tasks.front());
    m_tasks.pop_front();
    lock.unlock();
    run_task(task, m_chunker);
    lock.lock();
  }
}

Scanner::WaitGuard::~WaitGuard() {
  if (std::uncaught_exceptions() > m_unwinding) scanner.m_abort = true;
  scanner.wait_dir(dir);
}

Id32 Scanner::save_virtual(VirtualDir& dir) {
  Tree tree;
  for (auto& [name, child] : dir.children) {
    Node n = child->node;
    n.subtree = save_virtual(*child);
    tree.nodes.push_back(std::move(n));
  }
  for (auto& leaf : dir.leaves) tree.nodes.push_back(std::move(leaf));
  return save_tree(tree);
}

Id32 Scanner::scan(const ScanOptions& options) {
  m_options = &options;
  std::vector<std::string> paths = options.paths;
  std::sort(paths.begin(), paths.end());
  // A path inside another given path is already covered.
  std::vector<std::string> roots;
  for (auto& p : paths) {
    bool covered = std::any_of(roots.begin(), roots.end(), [&](const std::string& r) {
      return p == r || r == "/" ||
             (p.size() > r.size() && p.compare(0, r.size(), r) == 0 && p[r.size()] == '/');
    });
    if (!covered) roots.push_back(p);
  }
  for (auto& p : roots) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0)
      throw Error(Exit::failure, "unable to back up '{}': {} (no snapshot written)", p,
                  fs::errno_text(errno));
  }
  start_readers();
  struct Stop {
    Scanner& s;
    ~Stop() { s.stop_readers(); }
  } stop{*this};
  if (roots.size() == 1 && roots[0] == "/") {
    fs::UniqueFd fd(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct stat st {};
    ::fstat(fd.get(), &st);
    return scan_dir(fd.get(), "/", st.st_dev);
  }

  VirtualDir root;
  for (auto& p : roots) {
    VirtualDir* cur = &root;
    std::string prefix;
    size_t pos = 1;
    for (;;) {
      size_t slash = p.find('/', pos);
      std::string name =
          p.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
      std::string parent = prefix.empty() ? "/" : prefix;
      std::string full = join(parent, name);
      if (slash == std::string::npos) {
        fs::UniqueFd pfd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        struct stat pst {};
        if (!pfd || ::fstatat(pfd.get(), name.c_str(), &pst, AT_SYMLINK_NOFOLLOW) != 0)
          throw Error(Exit::failure, "unable to back up '{}': {} (no snapshot written)", full,
                      fs::errno_text(errno));
        Node node;
        if (!scan_entry(pfd.get(), name, full, pst.st_dev, node))
          throw Error(Exit::failure, "unable to back up '{}' (see above; no snapshot written)",
                      full);
        cur->leaves.push_back(std::move(node));
        break;
      }
      auto& child = cur->children[name];
      if (!child) {
        child = std::make_unique<VirtualDir>();
        // stat, not lstat: a symlink on the way (/var/run -> /run) is recorded as the
        // directory it leads to, with that directory's owner and mode.
        struct stat st {};
        if (::stat(full.c_str(), &st) != 0)
          throw Error(Exit::failure, "unable to stat '{}': {}", full, fs::errno_text(errno));
        Node& n = child->node;
        n.name = name;
        n.type = NodeType::dir;
        n.mode = st.st_mode & 07777;
        n.uid = st.st_uid;
        n.gid = st.st_gid;
        n.user = user_name(st.st_uid);
        n.group = group_name(st.st_gid);
        n.mtime_ns = ns_of(st.st_mtim);
      }
      cur = child.get();
      prefix = full;
      pos = slash + 1;
    }
  }
  return save_virtual(root);
}

Id32 Scanner::scan_stream(int fd, const std::string& path) {
  return scan_streams({{path, [fd] { return fd; }, [] {}}});
}

Id32 Scanner::scan_streams(const std::vector<Stream>& streams) {
  // The streams and the directories around them belong to us, dated now.
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  auto owned = [&](const std::string& name, NodeType type, uint32_t mode) {
    Node n;
    n.name = name;
    n.type = type;
    n.mode = mode;
    n.uid = ::geteuid();
    n.gid = ::getegid();
    n.user = user_name(n.uid);
    n.group = group_name(n.gid);
    n.mtime_ns = ns_of(now);
    return n;
  };
  struct Dir {
    std::map<std::string, Dir> dirs;
    std::vector<Node> files;
  };
  Dir root;
  for (const auto& stream : streams) {
    std::vector<std::string> parts;
    for (size_t pos = 1; pos <= stream.path.size();) {
      size_t slash = stream.path.find('/', pos);
      if (slash == std::string::npos) slash = stream.path.size();
      parts.push_back(stream.path.substr(pos, slash - pos));
      pos = slash + 1;
    }
    if (parts.empty() || stream.path[0] != '/')
      throw Error(Exit::failure, "internal: stream path '{}' is not absolute", stream.path);
    Dir* dir = &root;
    for (size_t i = 0; i + 1 < parts.size(); ++i) dir = &dir->dirs[parts[i]];
    for (const auto& f : dir->files)
      if (f.name == parts.back())
        throw Error(Exit::failure, "internal: two streams named '{}'", stream.path);
    int fd = stream.open();
    Node node = owned(parts.back(), NodeType::file, 0600);
    m_chunker.reset([&](std::byte* buf, size_t n) -> size_t {
      for (;;) {
        ssize_t got = ::read(fd, buf, n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0)
          throw Error(Exit::failure, "unable to read the data for {}: {}", stream.path,
                      fs::errno_text(errno));
        return static_cast<size_t>(got);
      }
    });
    node.size = consume_chunks(m_chunker, node.content);
    stream.close();
    m_stats.bytes_read += node.size;
    m_stats.files_new++;
    dir->files.push_back(std::move(node));
  }
  std::function<Id32(Dir&)> save = [&](Dir& dir) {
    Tree tree;
    for (auto& [name, sub] : dir.dirs) {
      for (const auto& f : dir.files)
        if (f.name == name)
          throw Error(Exit::failure, "internal: '{}' is both a stream and a directory", name);
      Node d = owned(name, NodeType::dir, 0700);
      d.subtree = save(sub);
      m_stats.dirs++;
      tree.nodes.push_back(std::move(d));
    }
    for (auto& f : dir.files) tree.nodes.push_back(std::move(f));
    return save_tree(tree);
  };
  return save(root);
}

}  // namespace lifeboat::source::files
