// Minimal leveled logging to standard error. Thread-safe (one mutex per line).
// Secrets must never be passed here; callers redact before logging.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace lifeboat::log {

enum class Level { quiet = 0, normal = 1, verbose = 2, debug = 3 };

void set_level(Level level);
Level level();
void write(Level at, std::string_view prefix, std::string_view message);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (level() >= Level::normal)
    write(Level::normal, "", fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void verbose(fmt::format_string<Args...> f, Args&&... args) {
  if (level() >= Level::verbose)
    write(Level::verbose, "", fmt::format(f, std::forward<Args>(args)...));
}
// Warnings are shown even with --quiet: they describe data the run did not handle.
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::quiet, "warning: ", fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::quiet, "error: ", fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace lifeboat::log
