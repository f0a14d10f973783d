// The remote drivers and the decorators storage::open composes (DESIGN.md §5). Each driver
// takes the URL after "scheme://" and the options; all are thread-safe.
#pragma once

#include <functional>
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
//   OP    put get stat list remove any (storage operations), fsync (see below)
//   WHEN  N (the Nth call of OP, from 1), N+ (the Nth and every later call), or P% (random)
//   FAULT transient permanent denied enospc truncate garbage empty kill killafter stop;
//         eio, enospc for fsync
// Throws UsageError for a malformed rule or one whose fault cannot apply to its operation.
std::unique_ptr<Storage> with_faults(std::unique_ptr<Storage> inner, const std::string& spec);
// Test-only: the fsync rules of such a specification, for the local driver (which alone
// fsyncs; no decorator can reach below its put). The hook counts each fsync the driver is
// about to make (of a file or a directory: path) and returns 0, or the errno (EIO, ENOSPC)
// that fsync is to fail with. Empty
// when the specification has no fsync rule. Thread-safe.
std::function<int(const std::string& path)> fsync_faults_for_testing(const std::string& spec);

}  // namespace lifeboat::storage
