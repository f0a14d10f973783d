#include "lifeboat/core/reporter.hpp"

#include <fmt/format.h>

#include "lifeboat/core/log.hpp"

namespace lifeboat {

void Reporter::report(std::string item, std::string message) {
  log::warn("{}: {}", printable(item), message);
  std::lock_guard lock(m_mutex);
  m_problems.push_back({std::move(item), std::move(message)});
}

std::vector<ItemProblem> Reporter::problems() const {
  std::lock_guard lock(m_mutex);
  return m_problems;
}

size_t Reporter::count() const {
  std::lock_guard lock(m_mutex);
  return m_problems.size();
}

std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      out += "\\\\";
      ++i;
    } else if (c == '\n') {
      out += "\\n";
      ++i;
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++i;
    } else {
      // Keep well-formed multi-byte UTF-8 sequences; escape everything else.
      size_t len = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
      bool ok = len > 0 && i + len <= s.size();
      for (size_t k = 1; ok && k < len; ++k)
        ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
      if (ok) {
        out.append(s.substr(i, len));
        i += len;
      } else {
        out += fmt::format("\\x{:02x}", c);
        ++i;
      }
    }
  }
  return out;
}

}  // namespace lifeboat
