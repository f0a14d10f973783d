// Restores a snapshot's tree into a target directory, safely against hostile snapshots:
// names must be single components, each once in its directory (a long listing is read a part
// at a time: docs/format/trees.md); every path is walked by directory fd with O_NOFOLLOW, so
// no symlink is followed and nothing outside the target is written, chmodded, linked or
// retimed; metadata is applied by fd; hard links only to entries restored in this run;
// devices and setuid/setgid bits only as root. Bad items go to the Reporter and are skipped.
// A planner thread walks the trees ahead of the restore, telling the prefetcher which blobs
// will be needed (it reads them a pack piece at a time). One thread walks the tree in order
// (directories, links, special files, the blobs of each file taken from the prefetcher in
// plan order); small regular files are then created,
// written and given their metadata by a pool of writer threads, so that the kernel's work of
// creating many files uses every core. A directory's own metadata is applied once the walk
// has left it and the last of its files is written.
// Not thread-safe: one Restorer per restore.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "lifeboat/core/reporter.hpp"
#include "lifeboat/repo/repository.hpp"
#include "lifeboat/restore/prefetch.hpp"
#include "lifeboat/util/glob.hpp"

namespace lifeboat::restore {

enum class Overwrite { never, if_changed, always };

struct Options {
  std::string target;
  PatternSet includes;
  PatternSet excludes;
  Overwrite overwrite = Overwrite::if_changed;
  bool verify = false;
  bool dry_run = false;
  bool numeric_owner = false;
};

struct Stats {
  uint64_t files = 0;
  uint64_t dirs = 0;
  uint64_t others = 0;
  uint64_t bytes = 0;
  uint64_t skipped_existing = 0;
  uint64_t verified_files = 0;
};

// Checks that a name from a snapshot is one safe path component; returns the reason if not.
std::optional<std::string> bad_name(const std::string& name);

using SharedBytes = std::shared_ptr<const Bytes>;

// Caches recently read blobs (bounded by bytes); takes them from the prefetcher when it has
// them. A blob handed out stays valid however long its holder keeps it. Small: the prefetcher
// reads every planned occurrence of a blob anyway, so the cache only spares re-reading blobs
// repeated close together; at 16 MiB it mostly held blobs already written (a restore of the
// Linux tree peaked 6-12 MB higher).
class BlobCache {
 public:
  explicit BlobCache(repo::Repository& repo, size_t budget = 2u << 20)
      : m_repo(repo), m_budget(budget) {}
  void set_prefetcher(Prefetcher* p) { m_prefetcher = p; }
  SharedBytes get(const Id32& id);

 private:
  repo::Repository& m_repo;
  Prefetcher* m_prefetcher = nullptr;
  size_t m_budget;
  size_t m_used = 0;
  std::list<Id32> m_order;
  std::unordered_map<Id32, std::pair<SharedBytes, std::list<Id32>::iterator>, Id32Hash> m_map;
};

class Restorer {
 public:
  Restorer(repo::Repository& repo, Reporter& reporter, Options options);
  ~Restorer();
  // Throws Error(failure) when the target cannot be created or written.
  void run(const Id32& root_tree);
  const Stats& stats() const { return m_stats; }

 private:
  struct Dir;
  using DirPtr = std::shared_ptr<Dir>;
  // A regular file for the writer threads: its blobs are already read, in content order.
  struct FileJob {
    DirPtr dir;
    std::shared_ptr<const repo::Tree> tree;  // keeps node alive
    const repo::Node* node = nullptr;
    std::string path;
    std::vector<SharedBytes> blobs;
    size_t bytes = 0;
  };
  using BlobSource = std::function<SharedBytes(size_t index, const Id32& id)>;

  void walk(const Id32& tree_id, const DirPtr& dir, int depth);
  // The planner thread: walks the trees as the restore will, planning the files' blobs.
  struct PlanState {
    std::vector<Id32> ancestors;
    std::set<uint64_t> links;  // hard-linked inodes already planned
    std::vector<Id32> batch;
  };
  void plan_tree(const Id32& tree_id, const std::string& dir_path, int depth, PlanState& st);
  // Calls fn with the directory's listing, or with each part of a listing stored in parts,
  // one in memory at a time, until fn returns false. The walk takes the listings the planner
  // (planner = true) read and kept. Throws IntegrityError for a listing it cannot read.
  void for_each_listing(const Id32& tree_id,
                        const std::function<bool(const std::shared_ptr<const repo::Tree>&)>& fn,
                        bool planner = false);
  void stop_planner();
  // The listing the planner read for this tree, if it kept it; null otherwise.
  std::shared_ptr<const repo::Tree> take_planned_tree(const Id32& id);
  void restore_node(const std::shared_ptr<const repo::Tree>& tree, const repo::Node& node,
                    const DirPtr& dir, const std::string& path, int depth);
  int ensure(Dir& dir);
  bool make_room(int dirfd, const repo::Node& node, const std::string& path);
  void restore_file(const std::shared_ptr<const repo::Tree>& tree, const repo::Node& node,
                    const DirPtr& dir, const std::string& path);
  // Creates the file, writes its content and metadata; false when it was not restored.
  bool create_file(int dirfd, const repo::Node& node, const std::string& path,
                   const BlobSource& blobs);
  bool write_content(int fd, const repo::Node& node, const std::string& path,
                     const BlobSource& blobs);
  void apply_metadata(int fd, int dirfd, const repo::Node& node, const std::string& path);
  // The local id of a user or group name (looked up once per name).
  std::optional<uint32_t> owner_id(const std::string& name, bool group);
  void finish_dir(Dir& dir);
  // Drops one hold on a directory (the walk's, or a queued file's); the last applies its
  // metadata.
  void release(const DirPtr& dir);
  void count(uint64_t Stats::*field, uint64_t n = 1);

  // The writer pool.
  void start_writers(unsigned n);
  void enqueue(FileJob job);
  void writer_loop();
  void drain();  // waits until every queued file is written; rethrows a writer's failure
  void stop_writers();

  repo::Repository& m_repo;
  Reporter& m_reporter;
  Options m_options;
  Stats m_stats;
  std::mutex m_stats_mutex;
  BlobCache m_cache;
  std::unique_ptr<Prefetcher> m_prefetch;
  std::thread m_planner;
  std::atomic<bool> m_planner_stop{false};
  std::mutex m_trees_mutex;
  std::unordered_map<Id32, std::shared_ptr<const repo::Tree>, Id32Hash> m_planned_trees;
  size_t m_planned_nodes = 0;  // entries in m_planned_trees
  bool m_root;
  int m_max_depth;
  std::vector<Id32> m_ancestors;
  // hard-link identity → path components (below the target) of the first restored copy
  std::map<uint64_t, std::vector<std::string>> m_links;
  int m_target_fd = -1;
  std::mutex m_names_mutex;
  std::map<std::string, std::optional<uint32_t>> m_uids, m_gids;

  std::mutex m_mutex;  // guards the queue, the directories' hold counts and m_error
  std::condition_variable m_cv_jobs;
  std::condition_variable m_cv_space;
  std::condition_variable m_cv_idle;
  std::deque<FileJob> m_jobs;
  size_t m_queued_bytes = 0;
  unsigned m_busy = 0;
  bool m_stop = false;
  std::exception_ptr m_error;
  std::vector<std::thread> m_writers;
};

}  // namespace lifeboat::restore
