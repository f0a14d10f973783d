// Restores a snapshot's tree into a target directory, safely against hostile snapshots:
// names must be single components; every path is walked by directory fd with O_NOFOLLOW, so
// no symlink is followed and nothing outside the target is written, chmodded, linked or
// retimed; metadata is applied by fd; hard links only to entries restored in this run;
// devices and setuid/setgid bits only as root. Bad items go to the Reporter and are skipped.
// Not thread-safe: one Restorer per restore.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
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

// Caches recently read blobs (bounded by bytes); takes them from the prefetcher when it has
// them.
class BlobCache {
 public:
  explicit BlobCache(repo::Repository& repo, size_t budget = 64u << 20)
      : m_repo(repo), m_budget(budget) {}
  void set_prefetcher(Prefetcher* p) { m_prefetcher = p; }
  const Bytes& get(const Id32& id);

 private:
  repo::Repository& m_repo;
  Prefetcher* m_prefetcher = nullptr;
  size_t m_budget;
  size_t m_used = 0;
  std::list<Id32> m_order;
  std::unordered_map<Id32, std::pair<Bytes, std::list<Id32>::iterator>, Id32Hash> m_map;
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
  void walk(const Id32& tree_id, Dir& dir, int depth);
  // Plans the blobs of the files from node `from` up to the next subdirectory; returns the
  // index after that subdirectory.
  size_t plan_files(const repo::Tree& tree, size_t from, const std::string& dir_path);
  void restore_node(const repo::Node& node, Dir& dir, const std::string& path, int depth);
  int ensure(Dir& dir);
  bool make_room(int dirfd, const repo::Node& node, const std::string& path);
  void restore_file(const repo::Node& node, Dir& dir, const std::string& path);
  bool write_content(int fd, const repo::Node& node, const std::string& path);
  void apply_metadata(int fd, int dirfd, const repo::Node& node, const std::string& path);
  void finish_dir(Dir& dir);

  repo::Repository& m_repo;
  Reporter& m_reporter;
  Options m_options;
  Stats m_stats;
  BlobCache m_cache;
  std::unique_ptr<Prefetcher> m_prefetch;
  bool m_root;
  int m_max_depth;
  std::vector<Id32> m_ancestors;
  // hard-link identity → path components (below the target) of the first restored copy
  std::map<uint64_t, std::vector<std::string>> m_links;
  int m_target_fd = -1;
};

}  // namespace lifeboat::restore
