#include "lifeboat/util/host.hpp"

#include <pwd.h>
#include <unistd.h>

namespace lifeboat {

std::string host_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

std::string user_name() {
  if (auto* pw = ::getpwuid(::geteuid())) return pw->pw_name;
  return {};
}

}  // namespace lifeboat
