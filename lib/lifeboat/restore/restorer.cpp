#include "lifeboat/restore/restorer.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <set>

#include "lifeboat/core/cancel.hpp"
#include "lifeboat/core/log.hpp"
#include "lifeboat/util/fs.hpp"
#include "lifeboat/util/stack.hpp"

namespace lifeboat::restore {

using repo::Node;
using repo::NodeType;

namespace {

// A problem with one item: reported, the item skipped, the restore goes on.
struct ItemError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The directory an item belongs in could not be restored (already reported once).
struct DirFailed {};

std::string err(const char* what) { return fmt::format("{}: {}", what, fs::errno_text(errno)); }

struct timespec to_ts(int64_t ns) {
  struct timespec ts {};
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    ts.tv_sec -= 1;
  }
  return ts;
}

bool all_zero(const Bytes& b) {
  return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
}

int raise_fd_limit() {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
    return static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1u << 20));
  }
  return 1024;
}

// Refuses a name already restored in the directory: a set of the names of the listing at hand,
// and for a listing stored in parts, a name must lie after every name of the parts before it
// (writers sort names), so that no earlier part is kept. The walk and the planner both use it,
// so they skip the same entries.
class NameGuard {
 public:
  // Before each listing or part.
  void next_part() {
    m_floor = m_max;
    m_seen.clear();
  }
  // Null when the name is new, else why it is skipped.
  const char* check(const std::string& name) {
    if (m_floor && name <= *m_floor)
      return "name out of order across the parts of a long listing (or a duplicate); skipped";
    if (!m_seen.insert(name).second) return "duplicate name in snapshot; skipped";
    if (!m_max || name > *m_max) m_max = name;
    return nullptr;
  }

 private:
  std::set<std::string> m_seen;
  std::optional<std::string> m_max;    // the greatest name of this directory so far
  std::optional<std::string> m_floor;  // the greatest of the parts before this one
};

}  // namespace

std::optional<std::string> bad_name(const std::string& name) {
  if (name.empty()) return "empty name";
  if (name == "." || name == "..") return fmt::format("name '{}' would leave its directory", name);
  if (name.find('/') != std::string::npos) return "name contains '/'";
  if (name.find('\0') != std::string::npos) return "name contains a NUL byte";
  if (name.size() > 255) return "name longer than 255 bytes";
  return std::nullopt;
}

SharedBytes BlobCache::get(const Id32& id) {
  auto it = m_map.find(id);
  if (it != m_map.end()) {
    m_order.splice(m_order.begin(), m_order, it->second.second);
    return it->second.first;
  }
  std::optional<Bytes> prefetched = m_prefetcher ? m_prefetcher->take(id) : std::nullopt;
  auto data =
      std::make_shared<const Bytes>(prefetched ? std::move(*prefetched) : m_repo.read_blob(id));
  while (!m_order.empty() && m_used + data->size() > m_budget) {
    auto last = m_map.find(m_order.back());
    m_used -= last->second.first->size();
    m_map.erase(last);
    m_order.pop_back();
  }
  m_order.push_front(id);
  m_used += data->size();
  m_map.emplace(id, std::make_pair(data, m_order.begin()));
  return data;
}

struct Restorer::Dir {
  DirPtr parent;
  std::string name;
  const Node* node = nullptr;               // null for the target itself
  std::shared_ptr<const repo::Tree> owner;  // the parent's listing, which holds node
  fs::UniqueFd fd;
  std::string path;  // as in the snapshot, for messages and patterns
  bool failed = false;
  bool existed = false;            // was already in the target
  struct timespec old_times[2]{};  // its times then (restored by --overwrite never)
  int holds = 1;                   // the walk's, plus one per queued file (under m_mutex)
};

namespace {
// Files up to this size go to the writer threads whole; larger ones are written by the walk
// itself, blob by blob, so memory stays bounded whatever the file sizes.
constexpr size_t k_job_max_bytes = 4u << 20;
// The queue of files read but not yet written: at most this many bytes and files.
constexpr size_t k_queue_bytes = 16u << 20;
constexpr size_t k_queue_files = 512;
// Directory listings the planner has read and the walk has not reached yet, at most this many
// entries in all (beyond it the walk reads them itself).
constexpr size_t k_planned_nodes = 65536;
}  // namespace

Restorer::Restorer(repo::Repository& repo, Reporter& reporter, Options options)
    : m_repo(repo),
      m_reporter(reporter),
      m_options(std::move(options)),
      m_cache(repo),
      m_root(::geteuid() == 0) {
  // Each directory being walked holds a descriptor, and so does each with queued files.
  m_max_depth = std::min(raise_fd_limit() - 64 - static_cast<int>(k_queue_files), 4096);
}

Restorer::~Restorer() {
  stop_writers();
  stop_planner();
}

void Restorer::count(uint64_t Stats::*field, uint64_t n) {
  std::lock_guard lock(m_stats_mutex);
  m_stats.*field += n;
}

void Restorer::run(const Id32& root_tree) {
  m_repo.require_read("restoring");
  auto root_dir = std::make_shared<Dir>();
  Dir& root = *root_dir;
  root.path = "";
  if (!m_options.dry_run) {
    try {
      fs::make_dirs(m_options.target, 0700);
    } catch (const Error& e) {
      throw Error(Exit::failure, "unable to create the restore target '{}': {}", m_options.target,
                  fs::errno_text(errno));
    }
    root.fd.reset(::open(m_options.target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root.fd)
      throw Error(Exit::failure, "unable to open the restore target '{}': {}", m_options.target,
                  fs::errno_text(errno));
    // Probe writability up front: a target we cannot write would fail every item.
    std::string probe = fmt::format(".lifeboat-probe-{}", ::getpid());
    int pfd = ::openat(root.fd.get(), probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (pfd < 0)
      throw Error(Exit::failure, "the restore target '{}' is not writable: {}", m_options.target,
                  fs::errno_text(errno));
    ::close(pfd);
    ::unlinkat(root.fd.get(), probe.c_str(), 0);
    m_target_fd = root.fd.get();
  }
  if (!m_options.dry_run) {
    m_prefetch = std::make_unique<Prefetcher>(m_repo, m_repo.transfers());
    m_cache.set_prefetcher(m_prefetch.get());
    // The planner walks the trees ahead of the restore, in the same order, telling the
    // prefetcher which blobs will be needed; a difference only costs speed.
    m_planner = std::thread([this, root_tree] {
      try {
        PlanState st;
        plan_tree(root_tree, "", 0, st);
      } catch (...) {
        // the walk reads what was not planned itself
      }
    });
    // Half the cores: the walk creates directories and large files itself, and more threads
    // creating files at once contend in the file system (measured on 2 cores, ext4: two
    // writers took 1.3-2.4 x the system time of one, and longer; on tmpfs no difference).
    start_writers(std::max(1u, std::thread::hardware_concurrency() / 2));
  }
  walk(root_tree, root_dir, 0);
  release(root_dir);
  drain();
  stop_writers();
  stop_planner();
  m_cache.set_prefetcher(nullptr);
  m_prefetch.reset();
}

void Restorer::start_writers(unsigned n) {
  for (unsigned i = 0; i < n; ++i) m_writers.emplace_back([this] { writer_loop(); });
}

void Restorer::stop_writers() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
    m_jobs.clear();  // only after a failure: drain() has emptied it otherwise
  }
  m_cv_jobs.notify_all();
  for (auto& t : m_writers)
    if (t.joinable()) t.join();
  m_writers.clear();
}

void Restorer::enqueue(FileJob job) {
  std::unique_lock lock(m_mutex);
  m_cv_space.wait(lock, [&] {
    return m_error || m_jobs.empty() ||
           (m_jobs.size() < k_queue_files && m_queued_bytes + job.bytes <= k_queue_bytes);
  });
  if (m_error) std::rethrow_exception(m_error);
  ++job.dir->holds;
  m_queued_bytes += job.bytes;
  m_jobs.push_back(std::move(job));
  lock.unlock();
  m_cv_jobs.notify_one();
}

void Restorer::drain() {
  std::unique_lock lock(m_mutex);
  m_cv_idle.wait(lock, [&] { return m_error || (m_jobs.empty() && m_busy == 0); });
  if (m_error) std::rethrow_exception(m_error);
}

void Restorer::writer_loop() {
  for (;;) {
    FileJob job;
    {
      std::unique_lock lock(m_mutex);
      m_cv_jobs.wait(lock, [&] { return m_stop || !m_jobs.empty(); });
      if (m_jobs.empty()) return;
      job = std::move(m_jobs.front());
      m_jobs.pop_front();
      m_queued_bytes -= job.bytes;
      ++m_busy;
    }
    m_cv_space.notify_all();
    try {
      create_file(job.dir->fd.get(), *job.node, job.path,
                  [&](size_t i, const Id32&) { return job.blobs[i]; });
      job.blobs.clear();
      release(job.dir);
    } catch (...) {
      std::lock_guard lock(m_mutex);
      if (!m_error) m_error = std::current_exception();
    }
    {
      std::lock_guard lock(m_mutex);
      --m_busy;
    }
    m_cv_space.notify_one();  // only the walk waits for space or for the pool to be idle
    m_cv_idle.notify_one();
  }
}

void Restorer::release(const DirPtr& dir) {
  {
    std::lock_guard lock(m_mutex);
    if (--dir->holds > 0) return;
  }
  finish_dir(*dir);
}

std::shared_ptr<const repo::Tree> Restorer::take_planned_tree(const Id32& id) {
  std::lock_guard lock(m_trees_mutex);
  auto it = m_planned_trees.find(id);
  if (it == m_planned_trees.end()) return nullptr;
  auto tree = std::move(it->second);
  m_planned_trees.erase(it);
  m_planned_nodes -= tree->nodes.size();
  return tree;
}

void Restorer::stop_planner() {
  m_planner_stop = true;
  if (m_prefetch) m_prefetch->stop();
  if (m_planner.joinable()) m_planner.join();
}

void Restorer::plan_tree(const Id32& tree_id, const std::string& dir_path, int depth,
                         PlanState& st) {
  if (m_planner_stop || depth >= m_max_depth || stack_low() ||
      std::find(st.ancestors.begin(), st.ancestors.end(), tree_id) != st.ancestors.end())
    return;
  st.ancestors.push_back(tree_id);
  NameGuard names;  // skips what the walk will skip
  try {
    for_each_listing(
        tree_id,
        [&](const std::shared_ptr<const repo::Tree>& listing) {
          names.next_part();
          for (const Node& node : listing->nodes) {
            if (m_planner_stop) return false;
            if (bad_name(node.name) || names.check(node.name)) continue;
            std::string path = dir_path + "/" + node.name;
            if (!m_options.excludes.empty() && m_options.excludes.matches(path)) continue;
            if (node.type == NodeType::dir) {
              if (node.subtree) plan_tree(*node.subtree, path, depth + 1, st);
              continue;
            }
            if (node.type != NodeType::file) continue;
            if (!m_options.includes.empty() && !m_options.includes.matches_self_or_ancestor(path))
              continue;
            if (node.links > 1 && !st.links.insert(node.inode).second) continue;  // a hard link
            for (const auto& item : node.content)
              if (!item.hole) st.batch.push_back(item.chunk);
            if (st.batch.size() >= 1024) {
              m_prefetch->plan(st.batch);
              st.batch.clear();
            }
          }
          return true;
        },
        true);
  } catch (const Error&) {
    // the walk reads it again and reports it
  }
  st.ancestors.pop_back();
  m_prefetch->plan(st.batch);  // the walk may be right behind: hand over what there is
  st.batch.clear();
}

void Restorer::for_each_listing(
    const Id32& tree_id, const std::function<bool(const std::shared_ptr<const repo::Tree>&)>& fn,
    bool planner) {
  // The planner hands each listing it read to the walk, which then need not read it again (a
  // request each on remote storage), while the listings waiting stay within k_planned_nodes.
  auto read = [&](const Id32& id) {
    std::shared_ptr<const repo::Tree> listing = planner ? nullptr : take_planned_tree(id);
    if (!listing) listing = std::make_shared<const repo::Tree>(m_repo.read_tree_blob(id));
    if (planner) {
      std::lock_guard lock(m_trees_mutex);
      if (m_planned_nodes + listing->nodes.size() <= k_planned_nodes &&
          m_planned_trees.emplace(id, listing).second)
        m_planned_nodes += listing->nodes.size();
    }
    return listing;
  };
  std::shared_ptr<const repo::Tree> head = read(tree_id);
  if (head->parts.empty()) {
    fn(head);
    return;
  }
  // A long listing is stored in parts (docs/format/trees.md): one part in memory at a time.
  std::vector<Id32> parts = head->parts;
  head.reset();
  for (const Id32& id : parts) {
    if (!planner) cancel::check();
    std::shared_ptr<const repo::Tree> part = read(id);
    if (!part->parts.empty())
      throw IntegrityError("malformed tree {}: its part {} is split again",
                           tree_id.hex().substr(0, 16), id.hex().substr(0, 16));
    if (!fn(part)) return;
  }
}

int Restorer::ensure(Dir& dir) {
  if (dir.fd || m_options.dry_run) return dir.fd.get();
  if (dir.failed) throw DirFailed{};
  int parent = ensure(*dir.parent);
  int rc = ::mkdirat(parent, dir.name.c_str(), 0700);
  if (rc != 0 && errno == EEXIST && m_options.overwrite == Overwrite::always) {
    // Replace a non-directory in the way (unlinkat never follows it); reuse a directory.
    struct stat st {};
    if (::fstatat(parent, dir.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        !S_ISDIR(st.st_mode) && ::unlinkat(parent, dir.name.c_str(), 0) == 0)
      rc = ::mkdirat(parent, dir.name.c_str(), 0700);
  }
  if (rc != 0 && errno != EEXIST) {
    dir.failed = true;
    m_reporter.report(dir.path, err("unable to create directory"));
    throw DirFailed{};
  }
  dir.existed = rc != 0;
  // O_NOFOLLOW: an existing symlink (planted by an earlier entry or already in the target)
  // is never followed.
  dir.fd.reset(::openat(parent, dir.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.fd) {
    dir.failed = true;
    m_reporter.report(dir.path, errno == ELOOP || errno == ENOTDIR
                                    ? "a non-directory (or symlink) is in the way; not followed"
                                    : err("unable to open directory"));
    throw DirFailed{};
  }
  if (dir.existed) {
    struct stat st {};
    if (::fstat(dir.fd.get(), &st) == 0) {
      dir.old_times[0] = st.st_atim;
      dir.old_times[1] = st.st_mtim;
    }
  }
  count(&Stats::dirs);
  return dir.fd.get();
}

void Restorer::walk(const Id32& tree_id, const DirPtr& dir_ptr, int depth) {
  Dir& dir = *dir_ptr;
  cancel::check();
  if (std::find(m_ancestors.begin(), m_ancestors.end(), tree_id) != m_ancestors.end()) {
    m_reporter.report(dir.path.empty() ? "/" : dir.path,
                      "directory contains itself (a cycle); skipped");
    return;
  }
  if (depth >= m_max_depth || stack_low()) {
    m_reporter.report(dir.path,
                      fmt::format("nested deeper than {} directories{}; skipped", depth,
                                  depth >= m_max_depth ? "" : " (the stack allows no more)"));
    return;
  }
  m_ancestors.push_back(tree_id);
  NameGuard names;
  try {
    for_each_listing(tree_id, [&](const std::shared_ptr<const repo::Tree>& listing) {
      names.next_part();
      for (const Node& node : listing->nodes) {
        std::string path = dir.path + "/" + node.name;
        if (auto why = bad_name(node.name)) {
          m_reporter.report(path, "unsafe name in snapshot (" + *why + "); skipped");
          continue;
        }
        if (const char* why = names.check(node.name)) {
          m_reporter.report(path, why);
          continue;
        }
        if (!m_options.excludes.empty() && m_options.excludes.matches(path)) continue;
        try {
          restore_node(listing, node, dir_ptr, path, depth);
        } catch (const ItemError& e) {
          m_reporter.report(path, e.what());
        } catch (const DirFailed&) {
          // reported once, for the directory
        }
      }
      return true;
    });
  } catch (const IntegrityError& e) {
    m_reporter.report(dir.path.empty() ? "/" : dir.path, e.what());
  }
  m_ancestors.pop_back();
}

bool Restorer::make_room(int dirfd, const Node& node, const std::string& path) {
  struct stat st {};
  if (::fstatat(dirfd, node.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return true;
  if (m_options.overwrite == Overwrite::never) {
    count(&Stats::skipped_existing);
    return false;
  }
  if (m_options.overwrite == Overwrite::if_changed && node.type == NodeType::file &&
      S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) == node.size &&
      st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec == node.mtime_ns) {
    count(&Stats::skipped_existing);
    return false;
  }
  if (S_ISDIR(st.st_mode)) {
    if (::unlinkat(dirfd, node.name.c_str(), AT_REMOVEDIR) != 0)
      throw ItemError(err("a directory is in the way and cannot be removed"));
  } else if (::unlinkat(dirfd, node.name.c_str(), 0) != 0) {
    throw ItemError(err("unable to replace the existing file"));
  }
  return true;
}

void Restorer::restore_node(const std::shared_ptr<const repo::Tree>& tree, const Node& node,
                            const DirPtr& dir_ptr, const std::string& path, int depth) {
  Dir& dir = *dir_ptr;
  bool selected = m_options.includes.empty() || m_options.includes.matches_self_or_ancestor(path);
  if (node.type == NodeType::dir) {
    if (!node.subtree) throw ItemError("directory without a listing");
    auto child = std::make_shared<Dir>();
    child->parent = dir_ptr;
    child->name = node.name;
    child->node = &node;
    child->owner = tree;  // its metadata may be applied after the parent's walk is over
    child->path = path;
    if (selected) ensure(*child);
    walk(*node.subtree, child, depth + 1);
    release(child);
    return;
  }
  if (!selected) return;
  if (m_options.dry_run) {
    log::verbose("would restore {}", printable(path));
    count(node.type == NodeType::file ? &Stats::files : &Stats::others);
    if (node.type == NodeType::file) count(&Stats::bytes, node.size);
    return;
  }
  int dirfd = ensure(dir);
  if (node.type == NodeType::file) return restore_file(tree, node, dir_ptr, path);
  if (!make_room(dirfd, node, path)) return;
  const char* name = node.name.c_str();
  switch (node.type) {
    case NodeType::symlink:
      if (::symlinkat(node.target.c_str(), dirfd, name) != 0)
        throw ItemError(err("unable to create symlink"));
      if (node.target.find('\0') != std::string::npos)
        m_reporter.report(path, "symlink target truncated at a NUL byte");
      break;
    case NodeType::fifo:
      if (::mkfifoat(dirfd, name, 0600) != 0) throw ItemError(err("unable to create FIFO"));
      break;
    case NodeType::socket:
      if (::mknodat(dirfd, name, S_IFSOCK | 0600, 0) != 0)
        throw ItemError(err("unable to create socket"));
      break;
    case NodeType::chardev:
    case NodeType::blockdev:
      if (!m_root) throw ItemError("device files are restored only as root; skipped");
      if (::mknodat(dirfd, name, (node.type == NodeType::chardev ? S_IFCHR : S_IFBLK) | 0600,
                    static_cast<dev_t>(node.rdev)) != 0)
        throw ItemError(err("unable to create device"));
      break;
    default:
      return;
  }
  count(&Stats::others);
  apply_metadata(-1, dirfd, node, path);
}

void Restorer::restore_file(const std::shared_ptr<const repo::Tree>& tree, const Node& node,
                            const DirPtr& dir_ptr, const std::string& path) {
  Dir& dir = *dir_ptr;
  int dirfd = dir.fd.get();
  if (node.links > 1) {
    auto it = m_links.find(node.inode);
    if (it != m_links.end()) {
      // Another name of a file restored earlier in this run: walk to it from the target by fd.
      fs::UniqueFd cur(::dup(m_target_fd));
      const auto& comps = it->second;
      for (size_t i = 0; i + 1 < comps.size() && cur; ++i)
        cur.reset(
            ::openat(cur.get(), comps[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      struct stat st {};
      if (!cur || ::fstatat(cur.get(), comps.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          !S_ISREG(st.st_mode))
        throw ItemError("the file it is a hard link to is gone");
      if (!make_room(dirfd, node, path)) return;
      if (::linkat(cur.get(), comps.back().c_str(), dirfd, node.name.c_str(), 0) != 0)
        throw ItemError(err("unable to create hard link"));
      count(&Stats::files);
      return;
    }
  }
  if (!make_room(dirfd, node, path)) return;
  // A small file that is not a hard link goes to the writer threads with its blobs, taken
  // here in the order the prefetcher planned them. Should its content outgrow its recorded
  // size (a hostile snapshot), the walk writes it itself with what it has taken so far.
  std::vector<SharedBytes> taken;
  if (node.links <= 1 && node.size <= k_job_max_bytes) {
    size_t bytes = 0;
    try {
      for (const auto& item : node.content) {
        if (item.hole) continue;
        cancel::check();
        taken.push_back(m_cache.get(item.chunk));
        bytes += taken.back()->size();
        if (bytes > k_job_max_bytes) break;
      }
    } catch (const IntegrityError& e) {
      m_reporter.report(path, fmt::format("not restored: {}", e.what()));
      return;
    }
    if (bytes <= k_job_max_bytes)
      return enqueue(FileJob{dir_ptr, tree, &node, path, std::move(taken), bytes});
  }
  auto source = [&](size_t i, const Id32& id) {
    return i < taken.size() ? taken[i] : m_cache.get(id);
  };
  if (!create_file(dirfd, node, path, source)) return;
  if (node.links > 1) {
    std::vector<std::string> comps{node.name};
    for (const Dir* d = &dir; d && d->node; d = d->parent.get()) comps.push_back(d->name);
    std::reverse(comps.begin(), comps.end());
    m_links.emplace(node.inode, std::move(comps));
  }
}

bool Restorer::create_file(int dirfd, const Node& node, const std::string& path,
                           const BlobSource& blobs) {
  fs::UniqueFd fd(
      ::openat(dirfd, node.name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) {
    m_reporter.report(path, err("unable to create file"));
    return false;
  }
  if (!write_content(fd.get(), node, path, blobs)) {
    fd.reset();
    ::unlinkat(dirfd, node.name.c_str(), 0);  // never leave a file with wrong content behind
    return false;
  }
  apply_metadata(fd.get(), dirfd, node, path);
  count(&Stats::files);
  return true;
}

bool Restorer::write_content(int fd, const Node& node, const std::string& path,
                             const BlobSource& blobs) {
  uint64_t offset = 0;
  uint64_t written_end = 0;
  try {
    size_t index = 0;
    for (auto& item : node.content) {
      cancel::check();
      if (item.hole) {
        offset += item.hole;
        continue;
      }
      SharedBytes blob = blobs(index++, item.chunk);
      const Bytes& data = *blob;
      if (!all_zero(data)) {
        size_t done = 0;
        while (done < data.size()) {
          ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done,
                               static_cast<off_t>(offset + done));
          if (n < 0) {
            if (errno == EINTR) continue;
            throw ItemError(err("unable to write"));
          }
          done += static_cast<size_t>(n);
        }
        written_end = offset + data.size();
      }
      offset += data.size();
    }
    // The file is new: only trailing holes (or zeros left unwritten) need it extended.
    if (written_end != offset && ::ftruncate(fd, static_cast<off_t>(offset)) != 0)
      throw ItemError(err("unable to set the file size"));
  } catch (const IntegrityError& e) {
    m_reporter.report(path, fmt::format("not restored: {}", e.what()));
    return false;
  } catch (const ItemError& e) {
    m_reporter.report(path, e.what());
    return false;
  }
  if (offset != node.size)
    m_reporter.report(
        path, fmt::format(
                  "its recorded size {} differs from its content ({} bytes); restored the content",
                  node.size, offset));
  count(&Stats::bytes, offset);
  if (m_options.verify) {
    uint64_t pos = 0;
    Bytes buf;
    for (auto& item : node.content) {
      if (item.hole) {
        pos += item.hole;
        continue;
      }
      auto loc = m_repo.index().find(item.chunk);
      size_t len = loc ? loc->raw_length : 0;
      buf.resize(len);
      ssize_t n = ::pread(fd, buf.data(), len, static_cast<off_t>(pos));
      if (n != static_cast<ssize_t>(len) || m_repo.mac().compute(buf) != item.chunk) {
        m_reporter.report(
            path, fmt::format("verification failed at offset {}: the restored bytes differ", pos));
        return false;
      }
      pos += len;
    }
    count(&Stats::verified_files);
  }
  return true;
}

std::optional<uint32_t> Restorer::owner_id(const std::string& name, bool group) {
  std::lock_guard lock(m_names_mutex);  // getpwnam and getgrnam are not thread-safe
  auto& known = group ? m_gids : m_uids;
  auto it = known.find(name);
  if (it != known.end()) return it->second;
  std::optional<uint32_t> id;
  if (group) {
    if (auto* gr = ::getgrnam(name.c_str())) id = gr->gr_gid;
  } else if (auto* pw = ::getpwnam(name.c_str())) {
    id = pw->pw_uid;
  }
  if (known.size() < 65536) known.emplace(name, id);
  return id;
}

void Restorer::apply_metadata(int fd, int dirfd, const Node& node, const std::string& path) {
  const char* name = node.name.c_str();
  uint32_t mode = node.mode & 07777;
  if (m_root) {
    uid_t uid = node.uid;
    gid_t gid = node.gid;
    if (!m_options.numeric_owner) {
      if (!node.user.empty())
        if (auto id = owner_id(node.user, false)) uid = *id;
      if (!node.group.empty())
        if (auto id = owner_id(node.group, true)) gid = *id;
    }
    int rc =
        fd >= 0 ? ::fchown(fd, uid, gid) : ::fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
    if (rc != 0) m_reporter.report(path, err("unable to set owner"));
  } else if (mode & (S_ISUID | S_ISGID)) {
    m_reporter.report(path, "setuid/setgid bits are restored only as root; restored without them");
    mode &= ~static_cast<uint32_t>(S_ISUID | S_ISGID);
  }
  if (node.type != NodeType::symlink) {
    for (auto& [key, value] : node.xattrs) {
      bool privileged = key.rfind("user.", 0) != 0;
      if (privileged && !m_root) {
        m_reporter.report(
            path, fmt::format("extended attribute '{}' restored only as root; skipped", key));
        continue;
      }
      int rc = fd >= 0 ? ::fsetxattr(fd, key.c_str(), value.data(), value.size(), 0)
                       : ::lsetxattr(fmt::format("/proc/self/fd/{}/{}", dirfd, node.name).c_str(),
                                     key.c_str(), value.data(), value.size(), 0);
      if (rc != 0)
        m_reporter.report(path, fmt::format("unable to set extended attribute '{}': {}", key,
                                            fs::errno_text(errno)));
    }
    // Mode after owner: chown clears setuid/setgid. Special files are reached through an
    // O_PATH descriptor so that a symlink swapped in meanwhile is not followed.
    int rc;
    if (fd >= 0) {
      rc = ::fchmod(fd, mode);
    } else {
      fs::UniqueFd node_fd(::openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
      struct stat st {};
      rc = -1;
      if (node_fd && ::fstat(node_fd.get(), &st) == 0 && !S_ISLNK(st.st_mode))
        rc = ::chmod(fmt::format("/proc/self/fd/{}", node_fd.get()).c_str(), mode);
    }
    if (rc != 0) m_reporter.report(path, err("unable to set permissions"));
  }
  struct timespec times[2] = {to_ts(node.mtime_ns), to_ts(node.mtime_ns)};
  int rc = fd >= 0 ? ::futimens(fd, times) : ::utimensat(dirfd, name, times, AT_SYMLINK_NOFOLLOW);
  if (rc != 0) m_reporter.report(path, err("unable to set times"));
}

void Restorer::finish_dir(Dir& dir) {
  if (!dir.fd || !dir.node) return;
  // --overwrite never leaves what was already there alone, directories' metadata included.
  if (dir.existed && m_options.overwrite == Overwrite::never) {
    ::futimens(dir.fd.get(), dir.old_times);  // adding entries moved its mtime: put it back
    dir.fd.reset();
    return;
  }
  apply_metadata(dir.fd.get(), -1, *dir.node, dir.path);
  dir.fd.reset();
}

}  // namespace lifeboat::restore
