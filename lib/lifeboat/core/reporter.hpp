// Collects per-item problems (an unreadable file, a bad entry in a snapshot): each is logged
// as a warning when it happens and listed at the end; a run with any ends "partial" (exit 3).
// Thread-safe.
#pragma once

#include <mutex>
#include <string>
#include <vector>

namespace lifeboat {

struct ItemProblem {
  std::string item;
  std::string message;
};

class Reporter {
 public:
  void report(std::string item, std::string message);
  std::vector<ItemProblem> problems() const;
  size_t count() const;

 private:
  mutable std::mutex m_mutex;
  std::vector<ItemProblem> m_problems;
};

// Makes a name printable: bytes that are not printable ASCII or valid UTF-8 become \xNN,
// and newlines \n, so hostile names cannot forge output lines.
std::string printable(std::string_view name);

}  // namespace lifeboat
