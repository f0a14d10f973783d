// backup-verify: the structure check, --read-data (every blob read, authenticated and
// decompressed), subsets of it, and --quick (every object re-hashed, no key needed).
#pragma once

#include <string>

#include "lifeboat/repo/repository.hpp"
#include "lifeboat/storage/storage.hpp"

namespace lifeboat::ops::verify {

struct Options {
  bool read_data = false;
  std::string subset;  // "N/M" or "P%"
  bool quick = false;
  bool allow_unknown_signer = false;
  bool json = false;
};

// Exit 0 when everything checked is sound, 20 when damage or tampering was found.
int run(repo::Repository& repo, const Options& options);
// --quick without any key: SHA-256 of every content-addressed object against its name.
int quick(storage::Storage& storage, const Options& options);

}  // namespace lifeboat::ops::verify
