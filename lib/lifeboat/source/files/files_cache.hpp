// The files cache: for each absolute path backed up last time, the inode, size, mtime and
// ctime it had and the content items it produced. A file whose stat still matches (and whose
// chunks are all still indexed) is not read again. Stored per repository and job in the
// cache directory. Not thread-safe.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "lifeboat/repo/tree.hpp"

namespace lifeboat::source::files {

struct CacheEntry {
  uint64_t inode = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  std::vector<repo::ContentItem> content;
};

class FilesCache {
 public:
  // Loads path; an absent or unreadable cache is empty (it is only an accelerator).
  static FilesCache load(const std::string& path);
  const CacheEntry* find(const std::string& file) const;
  void put(const std::string& file, CacheEntry entry);
  // Carries an unchanged file's entry over to this run's, without a copy (find's entry then
  // belongs to the new cache).
  void keep(const std::string& file);
  // Writes the entries put during this run (atomically, mode 0600).
  void save(const std::string& path) const;

 private:
  std::unordered_map<std::string, CacheEntry> m_old;
  std::unordered_map<std::string, CacheEntry> m_new;
};

}  // namespace lifeboat::source::files
