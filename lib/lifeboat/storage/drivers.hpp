// The remote drivers and the decorators storage::open composes (DESIGN.md §5). Each driver
// takes the URL after "scheme://" and the options; all are thread-safe.
#pragma once

#include <memory>
#include <string>

#include "lifeboat/storage/options.hpp"
#include "lifeboat/storage/storage.hpp"

namespace lifeboat::storage {

namespace s3 {
std::unique_ptr<Storage> make(const std::string& rest, const Options& options);
}
namespace azure {
std::unique_ptr<Storage> make(const std::string& rest, const Options& options);
}
namespace sftp {
std::unique_ptr<Storage> make(const std::string& rest, const Options& options);
}

// Retries TransientErrors with exponential backoff and full jitter, for at most
// `retry_seconds` per operation; then throws Error(Exit::storage) naming the attempts.
std::unique_ptr<Storage> with_retry(std::unique_ptr<Storage> inner, double retry_seconds);
// At most `connections` operations at once.
std::unique_ptr<Storage> with_concurrency_limit(std::unique_ptr<Storage> inner,
                                                unsigned connections);
// Average upload/download rates over all threads (bytes per second, 0 = unlimited).
std::unique_ptr<Storage> with_rate_limit(std::unique_ptr<Storage> inner, uint64_t upload,
                                         uint64_t download);
// Logs every operation (verbose level: key, size, duration, outcome). Keys and describe()
// never hold credentials.
std::unique_ptr<Storage> with_logging(std::unique_ptr<Storage> inner);
// Test-only fault injection, from a specification (docs/testing.md):
//   RULE[,RULE...]   RULE = OP:WHEN:FAULT
//   OP    put get stat list remove any
//   WHEN  N (the Nth call of OP, from 1), N+ (the Nth and every later call), or P% (random)
//   FAULT transient permanent denied enospc truncate garbage kill
std::unique_ptr<Storage> with_faults(std::unique_ptr<Storage> inner, const std::string& spec);

}  // namespace lifeboat::storage
