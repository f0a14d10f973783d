#include "lifeboat/core/test_tuning.hpp"

#include <cerrno>
#include <cstdlib>

#include "lifeboat/core/error.hpp"

namespace lifeboat {

size_t test_tuning(const char* name, size_t fallback, size_t minimum, size_t maximum) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v, &end, 10);
  if (errno != 0 || *end != '\0' || n < minimum || n > maximum)
    throw UsageError("{}='{}' is not a number from {} to {} (see docs/testing.md)", name, v,
                     minimum, maximum);
  return static_cast<size_t>(n);
}

}  // namespace lifeboat
