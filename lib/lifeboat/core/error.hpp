// The one error hierarchy of Lifeboat and the exit-code table (DESIGN.md §8).
// Library code throws these; the CLI layer maps them to process exit codes.
// Thread-safe: plain value types.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace lifeboat {

// Exit codes shared by every tool (DESIGN.md §8).
enum class Exit : int {
  ok = 0,
  failure = 1,
  usage = 2,
  partial = 3,
  repo_not_found = 10,
  lock = 11,
  wrong_key = 12,
  integrity = 20,
  storage = 21,
  not_permitted = 22,
  interrupted = 130,
  terminated = 143,
};

// Base of every error; carries the exit code that the failure maps to.
class Error : public std::runtime_error {
 public:
  Error(Exit code, const std::string& message) : std::runtime_error(message), m_code(code) {}
  template <typename... Args>
  Error(Exit code, fmt::format_string<Args...> f, Args&&... args)
      : Error(code, fmt::format(f, std::forward<Args>(args)...)) {}
  Exit code() const { return m_code; }

 private:
  Exit m_code;
};

// Bad flags, configuration or arguments (exit 2).
class UsageError : public Error {
 public:
  template <typename... Args>
  UsageError(fmt::format_string<Args...> f, Args&&... args)
      : Error(Exit::usage, fmt::format(f, std::forward<Args>(args)...)) {}
};

// Corruption or tampering detected (exit 20).
class IntegrityError : public Error {
 public:
  template <typename... Args>
  IntegrityError(fmt::format_string<Args...> f, Args&&... args)
      : Error(Exit::integrity, fmt::format(f, std::forward<Args>(args)...)) {}
};

}  // namespace lifeboat
