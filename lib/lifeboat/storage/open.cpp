#include "lifeboat/storage/storage.hpp"

namespace lifeboat::storage {

std::unique_ptr<Storage> open(const std::string& url) {
  if (url.empty()) throw UsageError("no repository given (use --repo URL or LIFEBOAT_REPOSITORY)");
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return local::make(url);
  std::string scheme = url.substr(0, scheme_end);
  std::string rest = url.substr(scheme_end + 3);
  if (scheme == "file") return local::make(rest);
  if (scheme == "mem") return memory::make(rest);
  throw UsageError("unsupported repository URL scheme '{}://' in '{}' (supported: a path, file://)",
                   scheme, url);
}

}  // namespace lifeboat::storage
