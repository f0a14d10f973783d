// Exclude/include patterns. A pattern without '/' matches any single name (file or directory);
// a pattern with '/' matches the whole absolute path; '*' may match across '/' in path patterns.
// Thread-safe after construction.
#pragma once

#include <string>
#include <vector>

namespace lifeboat {

class PatternSet {
 public:
  PatternSet() = default;
  explicit PatternSet(std::vector<std::string> patterns);
  // Adds the non-empty, non-comment lines of a file; throws Error(failure) if unreadable.
  void add_file(const std::string& path);
  bool empty() const { return m_patterns.empty(); }
  // True when path (absolute, as in the snapshot) or its last component matches.
  bool matches(const std::string& path) const;
  // True when path or any of its ancestors matches.
  bool matches_self_or_ancestor(const std::string& path) const;

 private:
  std::vector<std::string> m_patterns;
};

}  // namespace lifeboat
