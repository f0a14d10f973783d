#include "lifeboat/util/time.hpp"

#include <ctime>

namespace lifeboat {

std::string utc_time(int64_t ns, const char* format) {
  std::time_t t = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

}  // namespace lifeboat
