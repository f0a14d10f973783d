#include "lifeboat/core/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace lifeboat::log {
namespace {
std::atomic<Level> g_level{Level::normal};
std::mutex g_mutex;
}  // namespace

void set_level(Level l) { g_level = l; }
Level level() { return g_level; }

void write(Level at, std::string_view prefix, std::string_view message) {
  if (g_level < at) return;
  std::lock_guard lock(g_mutex);
  fmt::print(stderr, "{}{}\n", prefix, message);
  std::fflush(stderr);
}

}  // namespace lifeboat::log
