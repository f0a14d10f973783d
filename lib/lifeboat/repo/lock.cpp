#include "lifeboat/repo/lock.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <map>

#include "lifeboat/core/log.hpp"
#include "lifeboat/repo/detail/cbor.hpp"
#include "lifeboat/util/fs.hpp"
#include "lifeboat/util/host.hpp"

namespace lifeboat::repo {
using namespace detail;

Bytes encode_lock(const LockInfo& l) {
  return to_cbor(Json{{"v", 1},
                      {"host", l.host},
                      {"scope", l.process_scope},
                      {"user", l.user},
                      {"pid", l.pid},
                      {"time", l.time_ns},
                      {"started", l.started_ns},
                      {"expires", l.expires_ns},
                      {"exclusive", l.exclusive},
                      {"operation", l.operation}});
}

LockInfo decode_lock(ByteView data, const std::string& what_s) {
  const char* what = what_s.c_str();
  try {
    Json j = from_cbor(data, what);
    if (get_uint(j, "v", what) != 1) throw IntegrityError("{} has an unknown version", what);
    LockInfo l;
    l.host = get_str(j, "host", what);
    l.process_scope = get_str(j, "scope", what);
    l.user = get_str(j, "user", what);
    l.pid = get_int(j, "pid", what);
    l.time_ns = get_int(j, "time", what);
    // Optional (added after v1 locks were first written): a lock without it counts as
    // started at the beginning of time, which is the cautious reading for a prune.
    l.started_ns = j.contains("started") ? get_int(j, "started", what) : 0;
    l.expires_ns = get_int(j, "expires", what);
    l.exclusive = get_bool(j, "exclusive", what);
    l.operation = get_str(j, "operation", what);
    return l;
  } catch (const Json::exception& e) {
    throw IntegrityError("malformed {}: {}", what, e.what());
  }
}

LockTiming lock_timing() {
  LockTiming t;
  if (const char* s = std::getenv("LIFEBOAT_LOCK_EXPIRY_SECONDS_FOR_TESTING")) {
    long v = std::strtol(s, nullptr, 10);
    if (v > 0) {
      t.expiry_ns = v * 1000000000LL;
      t.refresh_ns = t.expiry_ns / 4;
    }
  }
  return t;
}

namespace {
std::string process_scope() {
  std::string boot;
  if (auto b = fs::read_file("/proc/sys/kernel/random/boot_id")) boot = std::string(as_chars(*b));
  while (!boot.empty() && boot.back() == '\n') boot.pop_back();
  char ns[128] = {};
  ssize_t n = ::readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
  return boot.empty() || n <= 0 ? "" : boot + " " + std::string(ns, static_cast<size_t>(n));
}
}  // namespace

RepoLock::RepoLock(Repository& repo, LockInfo info, LockTiming timing)
    : m_repo(repo), m_info(std::move(info)), m_timing(timing) {}

std::unique_ptr<RepoLock> RepoLock::acquire_for_reading(Repository& repo,
                                                        const std::string& operation) {
  try {
    return acquire(repo, false, operation);
  } catch (const storage::PermanentError& e) {
    log::warn(
        "unable to take a shared lock for {} ({}); going on without one: a prune running "
        "meanwhile could delete data this {} needs",
        operation, e.what(), operation);
    return nullptr;
  }
}

std::vector<LockInfo> RepoLock::live_locks(Repository& repo, const Id32& own) {
  // A lock being refreshed is written anew and its old object removed: a listing may show
  // only the old one, gone by the time it is read. Then list again (and keep what was read:
  // counting a lock twice is harmless, missing one is not).
  std::map<Id32, LockInfo> found;
  for (int attempt = 0; attempt < 10; ++attempt) {
    bool vanished = false;
    for (auto& id : repo.list_ids(Kind::lock)) {
      if (id == own || found.count(id)) continue;
      Bytes sealed;
      if (!repo.storage().get(object_key(Kind::lock, id), sealed)) {
        vanished = true;
        continue;
      }
      try {
        if (crypto::sha256(sealed) != id) continue;
        found.emplace(id, decode_lock(open_object(repo.keys().meta_key, repo.config().id,
                                                  Kind::lock, sealed, "lock"),
                                      "lock " + id.hex().substr(0, 8)));
      } catch (const IntegrityError&) {
        // unreadable: not a lock anybody can honour
      }
    }
    if (!vanished) break;
  }
  std::vector<LockInfo> out;
  int64_t now = now_ns();
  for (auto& [id, l] : found)
    if (l.expires_ns >= now) out.push_back(std::move(l));
  return out;
}

std::unique_ptr<RepoLock> RepoLock::acquire(Repository& repo, bool exclusive,
                                            const std::string& operation, bool solo) {
  LockTiming timing = lock_timing();
  LockInfo info;
  info.host = host_name();
  info.process_scope = process_scope();
  info.user = user_name();
  info.pid = ::getpid();
  info.time_ns = now_ns();
  info.started_ns = info.time_ns;
  info.expires_ns = info.time_ns + timing.expiry_ns;
  info.exclusive = exclusive;
  info.operation = operation;
  std::unique_ptr<RepoLock> lock(new RepoLock(repo, info, timing));

  // Write ours first, then look at the others: two racing exclusive lockers both see each
  // other and both back off, rather than both proceeding.
  lock->m_id = repo.save_meta(Kind::lock, encode_lock(info));
  lock->m_valid_until = info.expires_ns;
  for (auto& id : repo.list_ids(Kind::lock)) {
    if (id == lock->m_id) continue;
    LockInfo other;
    try {
      other = decode_lock(repo.load_meta(Kind::lock, id), "lock " + id.hex().substr(0, 8));
    } catch (const IntegrityError&) {
      continue;  // removed meanwhile, or unreadable: not a live lock we can honour
    }
    bool stale = other.expires_ns < now_ns();
    if (!stale && other.host == info.host && !info.process_scope.empty() &&
        other.process_scope == info.process_scope &&
        ::kill(static_cast<pid_t>(other.pid), 0) != 0 && errno == ESRCH)
      stale = true;
    if (stale) {
      log::verbose("removing stale lock {} of {}@{} (pid {})", id.hex().substr(0, 8), other.user,
                   other.host, other.pid);
      repo.storage().remove(object_key(Kind::lock, id));
      continue;
    }
    if (other.exclusive || exclusive || (solo && other.operation == operation)) {
      repo.storage().remove(object_key(Kind::lock, lock->m_id));
      lock->m_id = {};
      throw Error(Exit::lock,
                  "the repository is locked{} by {}@{} (pid {}, {}, since {}); try again later",
                  other.exclusive ? " exclusively" : "", other.user, other.host, other.pid,
                  other.operation, format_time(other.time_ns));
    }
  }
  lock->m_thread = std::thread([l = lock.get()] { l->refresh_loop(); });
  return lock;
}

void RepoLock::refresh_loop() {
  std::unique_lock guard(m_mutex);
  while (!m_stop) {
    m_cv.wait_for(guard, std::chrono::nanoseconds(m_timing.refresh_ns));
    if (m_stop) break;
    // A refresh that happens after the lock already expired does not revive it: another
    // process may have judged it stale meanwhile.
    if (now_ns() > m_valid_until) break;
    try {
      LockInfo info = m_info;
      info.time_ns = now_ns();
      info.expires_ns = info.time_ns + m_timing.expiry_ns;
      Id32 fresh = m_repo.save_meta(Kind::lock, encode_lock(info));
      Id32 old = m_id;
      m_id = fresh;
      m_valid_until = info.expires_ns;
      m_repo.storage().remove(object_key(Kind::lock, old));
    } catch (const std::exception& e) {
      log::warn("unable to refresh the repository lock: {}", e.what());
    }
  }
}

void RepoLock::check_valid() const {
  std::lock_guard guard(m_mutex);  // the refresh thread replaces m_id under it
  if (!m_repo.storage().stat(object_key(Kind::lock, m_id)))
    throw Error(
        Exit::lock,
        "the repository lock of this run was removed by another process (judged stale?); no "
        "snapshot was written — run the backup again");
  if (now_ns() > m_valid_until)
    throw Error(Exit::lock,
                "the repository lock expired before the backup finished (the process was stopped "
                "or the storage was unreachable); no snapshot was written — run the backup again");
}

void RepoLock::release() {
  {
    std::lock_guard guard(m_mutex);
    if (m_stop) return;
    m_stop = true;
  }
  m_cv.notify_all();
  if (m_thread.joinable()) m_thread.join();
  if (!m_id.is_zero()) {
    try {
      m_repo.storage().remove(object_key(Kind::lock, m_id));
    } catch (const std::exception& e) {
      log::warn("unable to remove the repository lock: {}", e.what());
    }
  }
}

RepoLock::~RepoLock() { release(); }

}  // namespace lifeboat::repo
