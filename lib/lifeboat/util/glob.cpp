#include "lifeboat/util/glob.hpp"

#include <fnmatch.h>

#include "lifeboat/core/error.hpp"
#include "lifeboat/util/fs.hpp"

namespace lifeboat {

PatternSet::PatternSet(std::vector<std::string> patterns) {
  for (auto& p : patterns) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    if (!p.empty()) m_patterns.push_back(std::move(p));
  }
}

void PatternSet::add_file(const std::string& path) {
  auto data = fs::read_file(path);
  if (!data) throw UsageError("exclude file '{}' does not exist", path);
  std::string_view text = as_chars(*data);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string line(text.substr(pos, nl - pos));
    pos = nl + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    while (line.size() > 1 && line.back() == '/') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    m_patterns.push_back(line);
  }
}

bool PatternSet::matches(const std::string& path) const {
  auto slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  for (auto& p : m_patterns) {
    if (p.find('/') != std::string::npos) {
      if (::fnmatch(p.c_str(), path.c_str(), 0) == 0) return true;
    } else if (::fnmatch(p.c_str(), base.c_str(), 0) == 0) {
      return true;
    }
  }
  return false;
}

bool PatternSet::matches_self_or_ancestor(const std::string& path) const {
  std::string cur = path;
  while (!cur.empty() && cur != "/") {
    if (matches(cur)) return true;
    auto slash = cur.rfind('/');
    if (slash == std::string::npos || slash == 0) break;
    cur.resize(slash);
  }
  return false;
}

}  // namespace lifeboat
