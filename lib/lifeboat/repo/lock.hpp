// Repository locks (locks/<id>): short-lived objects with an expiry that a background thread
// refreshes. Backups take shared locks and never block each other; an exclusive lock excludes
// everyone. A lock whose expiry passed, or left by a dead process on this host, is stale and
// removed. A holder whose lock expired (e.g. it was stopped) must not write its snapshot:
// check still_valid() right before the final write.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lifeboat/repo/repository.hpp"

namespace lifeboat::repo {

struct LockInfo {
  std::string host;
  // Which kernel boot and PID namespace `pid` belongs to: only a lock of this very boot and
  // namespace can be judged stale by checking whether its process still exists.
  std::string process_scope;
  std::string user;
  int64_t pid = 0;
  int64_t time_ns = 0;
  int64_t started_ns = 0;  // when the holder first took the lock (kept across refreshes)
  int64_t expires_ns = 0;
  bool exclusive = false;
  std::string operation;
};
Bytes encode_lock(const LockInfo& lock);
LockInfo decode_lock(ByteView data, const std::string& what);

struct LockTiming {
  int64_t expiry_ns = 30LL * 60 * 1000000000;  // a lock not refreshed for this long is stale
  int64_t refresh_ns = 5LL * 60 * 1000000000;  // refresh interval
};
// Reads LIFEBOAT_LOCK_EXPIRY_SECONDS_FOR_TESTING (tests shorten the timings with it).
LockTiming lock_timing();

class RepoLock {
 public:
  // Acquires a lock; throws Error(lock) naming the holder when a conflicting live lock exists:
  // any lock when exclusive, an exclusive one, or (solo) another lock of the same operation.
  static std::unique_ptr<RepoLock> acquire(Repository& repo, bool exclusive,
                                           const std::string& operation, bool solo = false);
  // A shared lock for a reader (restore, dump, verify) so that a prune does not delete packs
  // it may still read; when the storage does not let this host write (read-only
  // credentials), warns and returns nullptr: the reader goes on unprotected.
  static std::unique_ptr<RepoLock> acquire_for_reading(Repository& repo,
                                                       const std::string& operation);
  // The other live locks (not stale, not this process's), for a prune deciding whether
  // anything that started before a time is still running. Unreadable ones are skipped.
  static std::vector<LockInfo> live_locks(Repository& repo, const Id32& own);
  const Id32& id() const { return m_id; }
  ~RepoLock();
  RepoLock(const RepoLock&) = delete;
  RepoLock& operator=(const RepoLock&) = delete;
  // Throws Error(lock) when the lock expired (no successful refresh in time) or was removed
  // by another process.
  void check_valid() const;
  void release();

 private:
  RepoLock(Repository& repo, LockInfo info, LockTiming timing);
  void refresh_loop();
  Repository& m_repo;
  LockInfo m_info;
  LockTiming m_timing;
  Id32 m_id;
  std::atomic<int64_t> m_valid_until{0};
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_stop = false;
  std::thread m_thread;
};

}  // namespace lifeboat::repo
