// The files cache: for each absolute path backed up last time, the inode, size, mtime and
// ctime it had, the content items it produced and its extended attributes. A file whose stat
// still matches (and whose chunks are all still indexed) is neither read nor has its
// extended attributes listed again. Stored per repository and job in the cache directory.
//
// Memory stays small whatever the number of files: last run's cache is read from its file
// by offset (16 bytes in memory per file: a hash of the path and where its record starts,
// through a read window that makes lookups in walk order sequential reads), and this run's
// entries are spooled to an unlinked temporary file beside it until save. Not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lifeboat/repo/tree.hpp"
#include "lifeboat/util/fs.hpp"

namespace lifeboat::source::files {

struct CacheEntry {
  uint64_t inode = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  std::vector<repo::ContentItem> content;
  // The file's extended attributes, sorted; absent when not recorded (a cache written by
  // an older version, or a file whose attributes could not all be read).
  std::optional<std::vector<std::pair<std::string, Bytes>>> xattrs;
};

class FilesCache {
 public:
  // A cache that finds nothing and records nothing (streams have no files to remember).
  FilesCache() = default;
  // Opens the cache at path; an absent, unreadable or damaged cache is empty (it is only an
  // accelerator). save() writes this run's entries back to path.
  static FilesCache load(const std::string& path);

  // The entry recorded for file last time, if any.
  std::optional<CacheEntry> find(const std::string& file);
  // Records file's entry for this run's cache.
  void put(const std::string& file, const CacheEntry& entry);
  // Replaces the cache file with this run's entries (atomically, mode 0600). Throws on failure.
  void save();
  // Files recorded by put so far.
  uint64_t recorded() const { return m_count; }

 private:
  struct Slot {
    uint64_t hash;
    uint64_t offset;
  };
  ByteView old_bytes(uint64_t offset, uint64_t size);
  void flush();

  std::string m_path;
  // Last run's cache.
  fs::UniqueFd m_old;
  uint64_t m_old_size = 0;
  std::vector<Slot> m_slots;  // sorted by hash
  Bytes m_window;
  uint64_t m_window_at = 0;
  bool m_v2 = true;  // its format: version 2, or version 1 (no record lengths, no attributes)
  // This run's.
  fs::UniqueFd m_spool;
  Bytes m_pending;
  uint64_t m_count = 0;
  bool m_failed = false;
};

}  // namespace lifeboat::source::files
